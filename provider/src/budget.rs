//! The memory budget: how many secret bytes all in-flight Mounts may hold together, and how many
//! files' bytes one Mount may produce.
//!
//! A tenant chooses how large its objects are, how many it lists, how often one object is copied
//! under another alias or jmesPath field, and how many pods mount at once. Without a bound the
//! sum can exceed the container's memory limit and the kernel kills the provider for every pod
//! of the node. So every buffer a Mount holds (a fetched body, a decryption, a parsed JSON
//! document, a file, the encoded response) is charged here *before* it is allocated or as it
//! grows, and released when it is dropped:
//!
//! - the node-wide budget (`--max-inflight-bytes`) is shared by all Mounts; a charge that does not
//!   fit sheds the Mount with `RESOURCE_EXHAUSTED`, which the driver retries;
//! - a Mount's files count against `--max-response-bytes` as they are produced, so a Mount that
//!   would exceed it fails at the first file over, not after building them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::MountError;

/// Charges are counted in units of this many bytes (the semaphore counts units).
const UNIT: usize = 1024;

/// The node-wide budget. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeBudget {
    units: Arc<Semaphore>,
    max_bytes: usize,
}

impl NodeBudget {
    /// A budget of `max_bytes` for everything in-flight Mounts hold.
    pub fn new(max_bytes: usize) -> Self {
        let units = max_bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(units)),
            max_bytes,
        }
    }

    /// The budget of one Mount, whose files may total `response_limit` bytes.
    pub fn mount(&self, response_limit: usize) -> MountBudget {
        MountBudget {
            node: self.clone(),
            response_limit,
            response: AtomicUsize::new(0),
        }
    }

    /// Bytes currently charged by all Mounts (rounded up to whole units).
    pub fn held_bytes(&self) -> usize {
        let total = self.max_bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        (total - self.units.available_permits()) * UNIT
    }
}

/// One Mount's view of the budget.
#[derive(Debug)]
pub struct MountBudget {
    node: NodeBudget,
    response_limit: usize,
    response: AtomicUsize,
}

/// Bytes charged to the node budget; released when dropped.
#[derive(Debug, Default)]
pub struct Charge {
    permit: Option<OwnedSemaphorePermit>,
}

impl MountBudget {
    /// Charges `bytes` that the Mount is about to hold (`what` names them for the message).
    pub fn hold(&self, bytes: usize, what: &str) -> Result<Charge, MountError> {
        let mut charge = Charge::default();
        self.grow(&mut charge, bytes, what)?;
        Ok(charge)
    }

    /// Adds `bytes` to an existing charge (a body growing as it streams in).
    pub fn grow(&self, charge: &mut Charge, bytes: usize, what: &str) -> Result<(), MountError> {
        if bytes == 0 {
            return Ok(());
        }
        let units = bytes.div_ceil(UNIT);
        let over = || MountError::OverBudget {
            what: crate::limits::prefix(what),
            bytes,
            budget: self.node.max_bytes,
        };
        let units32 = u32::try_from(units).map_err(|_| over())?;
        if units * UNIT > self.node.max_bytes.max(UNIT) {
            // Could never fit, however idle the node: not worth a retry.
            return Err(crate::catalogue::over_whole_budget(
                &crate::limits::prefix(what),
                bytes,
                self.node.max_bytes,
            ));
        }
        let permit = self
            .node
            .units
            .clone()
            .try_acquire_many_owned(units32)
            .map_err(|_| over())?;
        match &mut charge.permit {
            Some(held) => held.merge(permit),
            slot @ None => *slot = Some(permit),
        }
        Ok(())
    }

    /// Counts a file of `bytes` against `--max-response-bytes`, failing as soon as the files of
    /// the Mount would exceed it. (A file shares the plaintext's buffer; its copy in the encoded
    /// response is charged once the whole response is known.)
    pub fn file(&self, label: &str, bytes: usize) -> Result<(), MountError> {
        let total = self
            .response
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if total > self.response_limit {
            return Err(crate::catalogue::files_too_large(
                &crate::limits::prefix(label),
                total,
                self.response_limit,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn charges_are_released_on_drop() {
        let node = NodeBudget::new(10 * UNIT);
        let mount = node.mount(usize::MAX);
        let a = mount.hold(4 * UNIT, "a").expect("fits");
        let mut b = mount.hold(1, "b").expect("fits");
        assert_eq!(node.held_bytes(), 5 * UNIT);
        mount.grow(&mut b, 3 * UNIT, "b").expect("fits");
        assert_eq!(node.held_bytes(), 8 * UNIT);
        let err = mount.hold(3 * UNIT, "c").expect_err("over");
        assert_eq!(err.grpc_code(), Code::ResourceExhausted);
        assert!(err.to_string().contains("--max-inflight-bytes"), "{err}");
        drop(a);
        drop(b);
        assert_eq!(node.held_bytes(), 0);
        mount.hold(10 * UNIT, "all").expect("fits once released");
    }

    #[test]
    fn a_charge_larger_than_the_budget_is_too_large_not_busy() {
        let node = NodeBudget::new(4 * UNIT);
        let err = node
            .mount(usize::MAX)
            .hold(5 * UNIT, "x")
            .expect_err("never fits");
        assert!(matches!(err, MountError::TooLarge(_)), "{err:?}");
        assert_eq!(node.held_bytes(), 0);
    }

    #[test]
    fn files_count_against_the_response_limit_as_they_are_produced() {
        let node = NodeBudget::new(usize::MAX / 2);
        let mount = node.mount(100);
        mount.file("objects[0]", 60).expect("under");
        let err = mount.file("objects[1]", 60).expect_err("over");
        assert!(err.to_string().contains("reach 120 bytes"), "{err}");
        assert!(err.to_string().contains("--max-response-bytes"), "{err}");
    }
}
