//! Bytes a server has answered with but not yet written to its socket.
//!
//! A response leaves a handler long before it leaves the process: tonic encodes it, HTTP/2
//! queues the frames until the client's flow-control window lets them go. A memory budget that
//! released its charge when the handler returned would not see that queue, and a burst of large
//! responses could exceed the container's memory limit while every charge looked released. So a
//! handler hands its charge to the connection's [`Outbox`], and the connection releases charges,
//! oldest first, as it writes bytes to the socket.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The charges of one connection's unsent responses. Cheap to share.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Pending>>,
}

struct Pending {
    bytes: usize,
    _guard: Box<dyn Send>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} bytes)", self.bytes)
    }
}

impl Outbox {
    /// A new, empty outbox.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Keeps `guard` until `bytes` more bytes have been written after everything held before.
    pub fn hold(&self, bytes: usize, guard: impl Send + 'static) {
        self.lock().push_back(Pending {
            bytes,
            _guard: Box::new(guard),
        });
    }

    /// Records `n` bytes written to the socket; drops the guards they paid for.
    pub fn written(&self, mut n: usize) {
        let mut done = Vec::new();
        {
            let mut queue = self.lock();
            while n > 0 {
                let Some(front) = queue.front_mut() else {
                    break;
                };
                if front.bytes > n {
                    front.bytes -= n;
                    break;
                }
                n -= front.bytes;
                done.extend(queue.pop_front());
            }
        }
        drop(done); // outside the lock: a guard may do work when dropped
    }

    /// Bytes still held.
    pub fn pending(&self) -> usize {
        self.lock().iter().map(|p| p.bytes).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_are_released_as_their_bytes_are_written() {
        let outbox = Outbox::new();
        let (a, b) = (Arc::new(()), Arc::new(()));
        outbox.hold(100, a.clone());
        outbox.hold(50, b.clone());
        outbox.written(60);
        assert_eq!((Arc::strong_count(&a), outbox.pending()), (2, 90));
        outbox.written(40);
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "first released once its 100 bytes are out"
        );
        assert_eq!(Arc::strong_count(&b), 2);
        outbox.written(1000);
        assert_eq!(Arc::strong_count(&b), 1);
        assert_eq!(outbox.pending(), 0);
        outbox.written(10); // nothing held: a no-op
    }

    #[test]
    fn a_dropped_connection_releases_everything() {
        let outbox = Outbox::new();
        let guard = Arc::new(());
        outbox.hold(10, guard.clone());
        drop(outbox);
        assert_eq!(Arc::strong_count(&guard), 1);
    }
}
