//! Coalescing of concurrent cold reads: while one KMS Decrypt of a ciphertext is in flight,
//! every other request for the same ciphertext waits for its answer instead of making its own.
//!
//! After a restart an apiserver reads every object at once, and many objects share one seed,
//! so without this one seed cost as many KMS calls as there were concurrent reads of it. Keys
//! are decrypt cache keys (everything that decides the plaintext). The answer, plaintext or
//! error, is handed to every waiter and dropped (wiped) with the last of them. If the request
//! making the call gives up (its client hung up), a waiting request makes the call instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::cache::CacheKey;

/// Calls in flight, by key.
#[derive(Debug)]
pub struct Flights<V> {
    calls: Mutex<HashMap<CacheKey, Arc<OnceCell<V>>>>,
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Self {
            calls: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> Flights<V> {
    /// The answer of `call` for `key`, made once for every concurrent caller with this key.
    /// Returns it and whether this caller made the call (`false`: it shared another's).
    pub async fn run<F, Fut>(&self, key: CacheKey, call: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = self.lock().entry(key).or_default().clone();
        let guard = Leave {
            flights: self,
            key,
            cell,
        };
        let mut made = false;
        let value = guard
            .cell
            .get_or_init(|| {
                made = true;
                call()
            })
            .await
            .clone();
        (value, made)
    }

    /// Keys with a call in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<OnceCell<V>>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the entry when the call is answered or its last waiter is gone.
struct Leave<'f, V> {
    flights: &'f Flights<V>,
    key: CacheKey,
    cell: Arc<OnceCell<V>>,
}

impl<V> Drop for Leave<'_, V> {
    fn drop(&mut self) {
        let mut calls = self.flights.calls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = calls.get(&self.key)
            && Arc::ptr_eq(entry, &self.cell)
            && (self.cell.initialized() || Arc::strong_count(entry) <= 2)
        {
            calls.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_call() {
        let flights = Arc::new(Flights::<Result<u32, String>>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flights, calls) = (flights.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run([1; 32], || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        let mut made = 0;
        for task in tasks {
            let (value, own) = task.await.expect("joined");
            assert_eq!(value, Ok(7));
            made += usize::from(own);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(made, 1);
        assert!(flights.is_empty(), "answered calls are forgotten");
        let (_, own) = flights.run([1; 32], || async { Ok(8) }).await;
        assert!(
            own,
            "a later caller makes a new call (the cache answers repeats)"
        );
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_hands_the_call_over() {
        let flights = Arc::new(Flights::<u32>::default());
        let first = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .run([2; 32], || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        1
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run([2; 32], || async { 2 }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        let (value, own) = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("not stuck")
            .expect("joined");
        assert_eq!((value, own), (2, true));
        assert!(flights.is_empty());
    }
}
