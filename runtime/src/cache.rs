//! The one cache both binaries use: entries that expire on tokio's clock, a bound in entries or
//! in weight (bytes) enforced on every insert, and coalesced loads.
//!
//! Coalescing works through [flights](Flight): callers with the same key take turns, and what a
//! caller stores (or hands over, such as a failure) during its turn reaches the callers that were
//! already waiting, even when the cache keeps nothing (TTL zero, capacity zero). A caller whose
//! flight ended without a result (failed and handed nothing, or gave up) finds a miss and loads
//! itself. Time is `tokio::time::Instant`, so tests pause and advance it.
//!
//! Values leave the cache at once when they expire (on lookup), are replaced, removed or evicted:
//! a value type that wipes itself on drop (`Zeroizing`, a zeroizing `Arc` buffer) is wiped as
//! soon as the last clone handed out is gone.

mod flight;

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

use flight::Turn;
pub use flight::{Flight, Lookup, Origin};

/// What bounds a cache.
#[derive(Debug, Clone, Copy)]
pub enum Bound<K, V> {
    /// At most this many entries.
    Entries(usize),
    /// At most this much weight in all, each entry weighing what `weigh` says of its key and
    /// value. As bytes, that is everything the entry holds: a key chosen by a client weighs as
    /// much as its value, and an entry with an empty value still costs its bookkeeping.
    Weight {
        /// The most weight kept.
        max: usize,
        /// The weight of one entry.
        weigh: fn(&K, &V) -> usize,
    },
}

/// Which entry goes first when the bound is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evict {
    /// The one stored longest ago (reads do not matter).
    OldestStored,
    /// The one used longest ago (reads count as use).
    LeastRecentlyUsed,
}

/// A bounded cache with expiry and coalesced loads. `E` is what a flight can hand its waiters
/// besides a value (a failure they share instead of retrying); `Infallible` when nothing is.
pub struct Cache<K, V, E = Infallible> {
    bound: Bound<K, V>,
    evict: Evict,
    ttl: Option<Duration>,
    expiry: Option<fn(&V) -> Option<Duration>>,
    inner: Mutex<Inner<K, V, E>>,
}

struct Inner<K, V, E> {
    entries: LruCache<K, Slot<V>>,
    weight: usize,
    /// Inserts since the last full sweep of expired entries.
    inserts: usize,
    /// Entries left by the last sweep: the next one runs after more inserts than that.
    sweep_after: usize,
    flights: HashMap<K, Turn<V, E>>,
}

struct Slot<V> {
    value: V,
    weight: usize,
    expires: Option<Instant>,
}

impl<K: Hash + Eq, V, E> std::fmt::Debug for Cache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("Cache")
            .field("entries", &inner.entries.len())
            .field("weight", &inner.weight)
            .field("flights", &inner.flights.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Locks `mutex`. Nothing panics while holding one of the cache's locks, so a poisoned lock
/// still guards consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Cache<K, V, E> {
    /// A cache within `bound`, evicting as `evict` says, whose entries never expire.
    pub fn new(bound: Bound<K, V>, evict: Evict) -> Self {
        Self {
            bound,
            evict,
            ttl: None,
            expiry: None,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                weight: 0,
                inserts: 0,
                sweep_after: 0,
                flights: HashMap::new(),
            }),
        }
    }

    /// Entries expire `ttl` after they were stored; a zero `ttl` keeps nothing (flights still
    /// hand values to their waiters).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Entries also expire after what `expiry` says of their value (`None`: no limit of its own),
    /// whichever comes first with the TTL.
    pub fn with_expiry(mut self, expiry: fn(&V) -> Option<Duration>) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// The value kept for `key`, if it has not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        lock(&self.inner).get(key, self.evict, Instant::now())
    }

    /// Drops every expired entry now, so that entries nobody stores after or asks for again
    /// still leave (and wipe) at their expiry.
    pub fn remove_expired(&self) {
        lock(&self.inner).sweep(Instant::now());
    }

    /// Calls [`Cache::remove_expired`] every `every`, until the future is dropped: a server runs
    /// it beside its cache, so an expired entry leaves memory within `every` of its expiry.
    pub async fn remove_expired_every(&self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.remove_expired();
        }
    }

    /// Keeps `value` for `key` (replacing what was there), evicting to stay within the bound.
    pub fn insert(&self, key: K, value: V) {
        self.keep(&mut lock(&self.inner), key, value);
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        lock(&self.inner).remove(key);
    }

    /// Entries kept (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The weight kept (the entry count under [`Bound::Entries`]).
    pub fn weight(&self) -> usize {
        lock(&self.inner).weight
    }

    /// Keys with callers in a flight.
    pub fn flights(&self) -> usize {
        lock(&self.inner).flights.len()
    }

    /// The value for `key`: kept, stored by the flight this call waited on, or loaded now by
    /// `load` and kept. A failed load keeps and hands over nothing: the callers that waited on
    /// it load in turn.
    pub async fn get_or_try_load<F, Fut, Err>(&self, key: &K, load: F) -> Result<(V, Origin), Err>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Err>>,
    {
        if let Some(value) = self.get(key) {
            return Ok((value, Origin::Kept));
        }
        let flight = self.enter(key).await;
        match flight.lookup() {
            Lookup::Fresh(Ok(value)) => return Ok((value, Origin::Handed)),
            Lookup::Valid(value) => return Ok((value, Origin::Kept)),
            Lookup::Fresh(Err(_)) | Lookup::Miss => {}
        }
        let value = load().await?;
        flight.store(value.clone());
        Ok((value, Origin::Loaded))
    }

    fn weigh(&self, key: &K, value: &V) -> usize {
        match self.bound {
            Bound::Entries(_) => 1,
            Bound::Weight { weigh, .. } => weigh(key, value),
        }
    }

    fn max(&self) -> usize {
        match self.bound {
            Bound::Entries(max) | Bound::Weight { max, .. } => max,
        }
    }

    /// When a value stored now expires (`None`: never); `Some(now)` when it is not to be kept.
    fn expires(&self, value: &V, now: Instant) -> Option<Instant> {
        let own = self.expiry.and_then(|expiry| expiry(value));
        let ttl = match (self.ttl, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ttl.map(|ttl| now + ttl)
    }

    fn keep(&self, inner: &mut Inner<K, V, E>, key: K, value: V) {
        inner.remove(&key);
        let now = Instant::now();
        inner.inserts += 1;
        if inner.inserts > inner.sweep_after {
            inner.sweep(now);
        }
        let expires = self.expires(&value, now);
        let weight = self.weigh(&key, &value);
        if expires.is_some_and(|at| at <= now) || weight > self.max() {
            return;
        }
        while inner.weight + weight > self.max() {
            let Some((_, evicted)) = inner.entries.pop_lru() else {
                break;
            };
            inner.weight -= evicted.weight;
        }
        inner.weight += weight;
        inner.entries.put(
            key,
            Slot {
                value,
                weight,
                expires,
            },
        );
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E> Inner<K, V, E> {
    /// Drops every expired entry, so that entries nobody asks for again leave (and wipe) rather
    /// than wait for the bound to push them out. Run after more inserts than the last sweep
    /// left entries, so its cost per insert stays constant, and by [`Cache::remove_expired`].
    fn sweep(&mut self, now: Instant) {
        let expired: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, slot)| slot.expires.is_some_and(|at| at <= now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.remove(key);
        }
        self.inserts = 0;
        self.sweep_after = self.entries.len();
    }
}

impl<K: Hash + Eq, V: Clone, E> Inner<K, V, E> {
    fn get(&mut self, key: &K, evict: Evict, now: Instant) -> Option<V> {
        let slot = match evict {
            Evict::OldestStored => self.entries.peek(key)?,
            Evict::LeastRecentlyUsed => self.entries.get(key)?,
        };
        if slot.expires.is_some_and(|at| at <= now) {
            self.remove(key);
            return None;
        }
        Some(slot.value.clone())
    }

    fn remove(&mut self, key: &K) {
        if let Some(old) = self.entries.pop(key) {
            self.weight -= old.weight;
        }
    }
}

#[cfg(test)]
mod tests;
