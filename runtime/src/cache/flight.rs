//! Flights: the callers of one key taking turns, so that one of them loads and the others take
//! what it stored or handed over.
//!
//! The callers of a flight are counted explicitly: the flight, and whatever it was handed, is
//! forgotten when its last caller leaves (finished, failed or dropped while waiting), so a value
//! the cache does not keep lives no longer than the callers that share it.

use std::hash::Hash;
use std::sync::Arc;

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

use super::{Cache, lock};

/// The flight of one key, as kept in the cache.
pub(super) struct Turn<V, E> {
    lock: Arc<TurnLock<()>>,
    callers: usize,
    /// Hand-overs so far; a caller takes the ones made after it entered.
    handovers: u64,
    handed: Option<(u64, Result<V, E>)>,
}

impl<V, E> Turn<V, E> {
    fn new() -> Self {
        Self {
            lock: Arc::default(),
            callers: 0,
            handovers: 0,
            handed: None,
        }
    }
}

/// What a caller finds when its turn comes.
#[derive(Debug)]
pub enum Lookup<V, E> {
    /// Handed over by a caller of this flight after this one entered it: use as is.
    Fresh(Result<V, E>),
    /// Kept and not expired (stored before this caller entered).
    Valid(V),
    /// Nothing usable.
    Miss,
}

/// Where [`Cache::get_or_try_load`] found its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Kept by the cache.
    Kept,
    /// Stored by the concurrent load this call waited on.
    Handed,
    /// Loaded by this call.
    Loaded,
}

/// One caller's turn in the flight of a key: while it is held, identical callers wait. Dropping
/// it (also by cancelling the task that holds it) passes the turn on.
pub struct Flight<'c, K: Hash + Eq + Clone, V: Clone, E: Clone = std::convert::Infallible> {
    // Declared first, so the turn is passed on before the caller is counted out.
    _turn: OwnedMutexGuard<()>,
    caller: Caller<'c, K, V, E>,
    seen: u64,
}

/// Counts a caller in a flight until it is dropped, whether it got its turn or not.
struct Caller<'c, K: Hash + Eq + Clone, V: Clone, E: Clone> {
    cache: &'c Cache<K, V, E>,
    key: K,
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Drop for Caller<'_, K, V, E> {
    fn drop(&mut self) {
        let mut inner = lock(&self.cache.inner);
        if let Some(turn) = inner.flights.get_mut(&self.key) {
            turn.callers -= 1;
            if turn.callers == 0 {
                inner.flights.remove(&self.key);
            }
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Cache<K, V, E> {
    /// Joins (or starts) the flight of `key` and waits for this caller's turn. Cancel-safe:
    /// dropping the future leaves no trace.
    pub async fn enter(&self, key: &K) -> Flight<'_, K, V, E> {
        let (turn, seen) = {
            let mut inner = lock(&self.inner);
            let turn = inner.flights.entry(key.clone()).or_insert_with(Turn::new);
            turn.callers += 1;
            (turn.lock.clone(), turn.handovers)
        };
        let caller = Caller {
            cache: self,
            key: key.clone(),
        };
        Flight {
            _turn: turn.lock_owned().await,
            caller,
            seen,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Flight<'_, K, V, E> {
    /// The flight's key.
    pub fn key(&self) -> &K {
        &self.caller.key
    }

    /// What this caller can use: a hand-over made while it waited, else the kept entry.
    pub fn lookup(&self) -> Lookup<V, E> {
        let cache = self.caller.cache;
        let mut inner = lock(&cache.inner);
        if let Some((at, handed)) = inner
            .flights
            .get(&self.caller.key)
            .and_then(|turn| turn.handed.as_ref())
            && *at > self.seen
        {
            return Lookup::Fresh(handed.clone());
        }
        match inner.get(&self.caller.key, cache.evict, tokio::time::Instant::now()) {
            Some(value) => Lookup::Valid(value),
            None => Lookup::Miss,
        }
    }

    /// Keeps `value` (if the TTL and the bound allow) and hands it to the callers waiting. A
    /// value whose own expiry has come already is neither: each waiter loads its own.
    pub fn store(&self, value: V) {
        let cache = self.caller.cache;
        let mut inner = lock(&cache.inner);
        if cache
            .expiry
            .and_then(|expiry| expiry(&value))
            .is_some_and(|left| left.is_zero())
        {
            inner.remove(&self.caller.key);
            return;
        }
        cache.keep(&mut inner, self.caller.key.clone(), value.clone());
        hand(&mut inner.flights, &self.caller.key, Ok(value));
    }

    /// Hands `failure` to the callers waiting, instead of letting each load in turn. Nothing is
    /// kept.
    pub fn fail(&self, failure: E) {
        let mut inner = lock(&self.caller.cache.inner);
        hand(&mut inner.flights, &self.caller.key, Err(failure));
    }

    /// Forgets the kept entry and any hand-over (the value changed or access was refused).
    pub fn forget(&self) {
        let mut inner = lock(&self.caller.cache.inner);
        inner.remove(&self.caller.key);
        if let Some(turn) = inner.flights.get_mut(&self.caller.key) {
            turn.handed = None;
        }
    }
}

fn hand<K: Hash + Eq, V, E>(
    flights: &mut std::collections::HashMap<K, Turn<V, E>>,
    key: &K,
    handed: Result<V, E>,
) {
    if let Some(turn) = flights.get_mut(key) {
        turn.handovers += 1;
        turn.handed = Some((turn.handovers, handed));
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> std::fmt::Debug for Flight<'_, K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flight").finish_non_exhaustive()
    }
}
