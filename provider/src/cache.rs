//! The plaintext cache and the coalescing of identical fetches (SPEC §2.7).
//!
//! Driver v1.6.0+ re-Mounts every volume about once a minute. With this cache an unchanged S3
//! object costs one conditional `GetObject` (304) and no KMS call, and inline ciphertext costs
//! nothing. Entries are keyed by the effective identity, so one identity's proof of access is
//! never reused for another; for S3 objects the 304 answered to the pod's own credentials is what
//! authorizes reuse.
//!
//! Identical fetches in flight at the same time are coalesced: the first caller fetches, the
//! others wait on its flight and take the entry it stored. Plaintext is held in [`SecretBytes`]
//! (wiped on drop), entries expire after the TTL, and the total is bounded in bytes (oldest
//! evicted first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::secret_bytes::SecretBytes;

/// What identifies one cached plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Effective identity (`node`, `role:<arn>`, `pod-identity:<ns>/<sa>`).
    pub identity: String,
    /// The object: `s3://bucket/key[?versionId=…]` or `inline:<sha256>`.
    pub object: String,
    /// Object type and decryption context, canonical.
    pub decryption: String,
}

/// A cached plaintext and what proves it current.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The object's plaintext.
    pub plaintext: Arc<SecretBytes>,
    /// The version reported to the driver.
    pub version: String,
    /// The S3 ETag, as S3 sent it, for `If-None-Match`.
    pub etag: Option<String>,
    stored_at: Instant,
}

impl Entry {
    /// A new entry, stored now.
    pub fn new(plaintext: SecretBytes, version: String, etag: Option<String>) -> Self {
        Self {
            plaintext: Arc::new(plaintext),
            version,
            etag,
            stored_at: Instant::now(),
        }
    }
}

/// Answer of [`PlaintextCache::lookup`].
#[derive(Debug)]
pub enum Lookup {
    /// Stored by a flight this caller waited on: use as is.
    Fresh(Entry),
    /// Within the TTL: S3 objects revalidate it, inline ones use it.
    Valid(Entry),
    /// Nothing usable.
    Miss,
}

/// The cache. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PlaintextCache {
    ttl: Duration,
    max_bytes: usize,
    state: Mutex<State>,
    flights: Mutex<HashMap<CacheKey, Flight>>,
    metrics: Metrics,
}

type Flight = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug, Default)]
struct State {
    entries: HashMap<CacheKey, Entry>,
    bytes: usize,
}

/// Holds a key's flight: identical fetches wait until it drops.
#[derive(Debug)]
pub struct FlightGuard<'a> {
    cache: &'a PlaintextCache,
    key: CacheKey,
    flight: Flight,
    _held: tokio::sync::OwnedMutexGuard<()>,
    /// When this caller asked; entries stored after this came from the flight it joined.
    pub started: Instant,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights.lock().unwrap_or_else(|p| p.into_inner());
        // The map, this guard and its lock hold the only references: nobody is waiting.
        if Arc::strong_count(&self.flight) <= 3 {
            flights.remove(&self.key);
            if self.cache.ttl.is_zero() {
                self.cache.state().remove(&self.key);
            }
        }
    }
}

impl PlaintextCache {
    /// A cache keeping entries for `ttl` (zero: only for concurrent identical fetches) and at
    /// most `max_bytes` of plaintext.
    pub fn new(ttl: Duration, max_bytes: usize, metrics: Metrics) -> Self {
        Self {
            ttl,
            max_bytes,
            state: Mutex::new(State::default()),
            flights: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins (or starts) the flight for `key`. Cancel-safe: dropping the future leaves no state.
    pub async fn enter(&self, key: &CacheKey) -> FlightGuard<'_> {
        let started = Instant::now();
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(key.clone()).or_default().clone()
        };
        let held = flight.clone().lock_owned().await;
        FlightGuard {
            cache: self,
            key: key.clone(),
            flight,
            _held: held,
            started,
        }
    }

    /// What the cache holds for the flight's key.
    pub fn lookup(&self, guard: &FlightGuard<'_>) -> Lookup {
        let mut state = self.state();
        let Some(entry) = state.entries.get(&guard.key) else {
            self.metrics.cache("plaintext", "miss");
            return Lookup::Miss;
        };
        if entry.stored_at >= guard.started {
            self.metrics.cache("plaintext", "hit");
            return Lookup::Fresh(entry.clone());
        }
        if entry.stored_at.elapsed() < self.ttl {
            self.metrics.cache("plaintext", "hit");
            return Lookup::Valid(entry.clone());
        }
        state.remove(&guard.key);
        self.metrics.cache("plaintext", "miss");
        Lookup::Miss
    }

    /// Stores `entry` for the flight's key, evicting the oldest entries beyond the byte bound.
    pub fn store(&self, guard: &FlightGuard<'_>, entry: Entry) {
        let size = entry.plaintext.len();
        if size > self.max_bytes {
            return;
        }
        let mut state = self.state();
        state.remove(&guard.key);
        while state.bytes + size > self.max_bytes {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.stored_at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            state.remove(&oldest);
        }
        state.bytes += size;
        state.entries.insert(guard.key.clone(), entry);
    }

    /// Counts a 304 for the flight's entry. It does not restart the entry's TTL: a 304 proves
    /// the S3 object unchanged, not that KMS would still decrypt it, so a plaintext lives at most
    /// the TTL from the fetch and decryption that produced it. That bounds how long a disabled
    /// key or a removed `kms:Decrypt` goes unnoticed (`docs/security-model.md`).
    pub fn confirm(&self, _guard: &FlightGuard<'_>) {
        self.metrics.cache("plaintext", "revalidated");
    }

    /// Forgets the flight's entry (the object changed or access was refused).
    pub fn forget(&self, guard: &FlightGuard<'_>) {
        self.state().remove(&guard.key);
    }

    /// Bytes of plaintext held.
    pub fn bytes(&self) -> usize {
        self.state().bytes
    }
}

impl State {
    fn remove(&mut self, key: &CacheKey) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.plaintext.len();
        }
    }
}

#[cfg(test)]
mod tests;
