//! The plaintext cache and the coalescing of identical fetches (`docs/reference.md` §2.7), over the shared
//! [`keywarden_runtime::cache`].
//!
//! Driver v1.6.0+ re-Mounts every volume about once a minute. With this cache an unchanged S3
//! object costs one conditional `GetObject` (304) and no KMS call, and inline ciphertext costs
//! nothing. Within `--revalidate-window` of S3's last answer for an entry (its fetch or a 304),
//! Mounts of the same identity and object use it without asking S3 again, so a node's round of
//! re-Mounts costs one request per identity and object rather than one per pod. Entries are keyed by the effective identity, so one identity's proof of access is
//! never reused for another; for S3 objects the 304 answered to the pod's own credentials is what
//! authorizes reuse.
//!
//! Identical fetches in flight at the same time are coalesced: the first caller fetches, the
//! others wait on its flight and take the entry it stored. Plaintext is held in [`SecretBytes`]
//! (wiped on drop), entries expire after the TTL, and the total is bounded in bytes (oldest
//! evicted first, each entry weighing its key and bookkeeping too).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use keywarden_runtime::cache::{self, Bound, Cache, Evict};

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
    /// When S3 last proved the entry current to its identity (the fetch, then each 304); shared
    /// by every copy of the entry.
    proven_at: Arc<Mutex<Instant>>,
}

impl Entry {
    /// A new entry, proven now.
    pub fn new(plaintext: SecretBytes, version: String, etag: Option<String>) -> Self {
        Self {
            plaintext: Arc::new(plaintext),
            version,
            etag,
            proven_at: Arc::new(Mutex::new(Instant::now())),
        }
    }

    fn proven_at(&self) -> Instant {
        *self
            .proven_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How often the server drops expired plaintexts that nothing else has dropped.
pub const SWEEP_EXPIRED_EVERY: Duration = Duration::from_secs(10);

/// What an entry costs besides its strings and plaintext: the list node, the map's slot, the
/// shared buffers' headers and malloc's rounding of each of its allocations. The unit tests
/// hold it to the heap entries with empty values really take.
pub const ENTRY_OVERHEAD_BYTES: usize = 512;

/// What an entry weighs against `--cache-max-bytes`: its plaintext, its key's and version's
/// strings (an S3 key alone can be 1 KiB) and [`ENTRY_OVERHEAD_BYTES`]. Without the key and
/// the overhead, entries of empty objects weighed nothing and were never evicted.
pub fn weight(key: &CacheKey, entry: &Entry) -> usize {
    ENTRY_OVERHEAD_BYTES
        + key.identity.len()
        + key.object.len()
        + key.decryption.len()
        + entry.plaintext.len()
        + entry.version.len()
        + entry.etag.as_ref().map_or(0, String::len)
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

/// Holds a key's flight: identical fetches wait until it drops.
pub type FlightGuard<'a> = cache::Flight<'a, CacheKey, Entry>;

/// The cache. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PlaintextCache {
    max_bytes: usize,
    /// How long an S3 proof (fetch or 304) of an entry lets later Mounts of the same identity
    /// skip the conditional request (`--revalidate-window`); zero: never.
    revalidate_window: Duration,
    /// Off only for the benchmark's uncoalesced baseline (`--no-coalesce`): every fetch then
    /// gets a key of its own, so nothing is shared or reused.
    coalesce: bool,
    uncoalesced: AtomicU64,
    entries: Cache<CacheKey, Entry>,
    metrics: Metrics,
}

impl PlaintextCache {
    /// A cache keeping entries for `ttl` (zero: only for concurrent identical fetches) and at
    /// most `max_bytes` of plaintext.
    pub fn new(ttl: Duration, max_bytes: usize, metrics: Metrics) -> Self {
        let bound = Bound::Weight {
            max: max_bytes,
            weigh: weight,
        };
        Self {
            max_bytes,
            revalidate_window: Duration::ZERO,
            coalesce: true,
            uncoalesced: AtomicU64::new(0),
            entries: Cache::new(bound, Evict::OldestStored).with_ttl(ttl),
            metrics,
        }
    }

    /// The same cache where an S3 proof of an entry stands for `window`: within it, a Mount of the
    /// same (identity, object) takes the entry without a conditional request. The entry's TTL
    /// still counts from its decryption, so a window never extends the KMS proof.
    pub fn with_revalidate_window(mut self, window: Duration) -> Self {
        self.revalidate_window = window;
        self
    }

    /// Whether S3 proved `entry` current within the revalidation window, so that this Mount may
    /// use it without asking S3 again. Counted as a `reused` cache result when it does.
    pub fn recently_proven(&self, entry: &Entry) -> bool {
        let recent = !self.revalidate_window.is_zero()
            && entry.proven_at().elapsed() < self.revalidate_window;
        if recent {
            self.metrics.cache("plaintext", "reused");
        }
        recent
    }

    /// The same cache with coalescing and reuse switched off: the measured baseline of the
    /// benchmark's fan-out figure (docs/decisions.md, "Benchmarks"), never a production setting.
    pub fn without_coalescing(mut self) -> Self {
        self.coalesce = false;
        self
    }

    /// The kept entry for `key` when it can be used without any request: `needs_proof` (S3
    /// objects) asks that S3 proved it within the revalidation window too. A warm re-Mount takes
    /// it without joining the key's flight; `None` leaves the lookup to the flight. Counted as
    /// the flight's lookup would count it.
    pub fn reusable(&self, key: &CacheKey, needs_proof: bool) -> Option<Entry> {
        let entry = self.entries.get(key)?;
        if needs_proof && !self.recently_proven(&entry) {
            return None;
        }
        self.metrics.cache("plaintext", "hit");
        Some(entry)
    }

    /// Joins (or starts) the flight for `key`. Cancel-safe: dropping the future leaves no state.
    pub async fn enter(&self, key: &CacheKey) -> FlightGuard<'_> {
        if self.coalesce {
            return self.entries.enter(key).await;
        }
        let n = self.uncoalesced.fetch_add(1, Ordering::Relaxed);
        let mut own = key.clone();
        own.decryption.push_str(&format!("\0uncoalesced:{n}"));
        self.entries.enter(&own).await
    }

    /// What the cache holds for the flight's key.
    pub fn lookup(&self, guard: &FlightGuard<'_>) -> Lookup {
        let (result, found) = match guard.lookup() {
            cache::Lookup::Fresh(Ok(entry)) => ("hit", Lookup::Fresh(entry)),
            cache::Lookup::Valid(entry) => ("hit", Lookup::Valid(entry)),
            cache::Lookup::Fresh(Err(never)) => match never {},
            cache::Lookup::Miss => ("miss", Lookup::Miss),
        };
        self.metrics.cache("plaintext", result);
        found
    }

    /// Stores `entry` for the flight's key, evicting the oldest entries beyond the byte bound,
    /// and hands it to the identical fetches waiting. An entry over the bound is neither kept
    /// nor handed over: each waiter fetches its own.
    pub fn store(&self, guard: &FlightGuard<'_>, entry: Entry) {
        if weight(guard.key(), &entry) > self.max_bytes {
            return;
        }
        guard.store(entry);
    }

    /// Counts a 304 for the flight's entry and restarts its revalidation window. It does not
    /// restart the entry's TTL: a 304 proves the S3 object unchanged, not that KMS would still
    /// decrypt it, so a plaintext lives at most the TTL from the fetch and decryption that
    /// produced it. That bounds how long a disabled
    /// key or a removed `kms:Decrypt` goes unnoticed (`docs/security-model.md`).
    pub fn confirm(&self, _guard: &FlightGuard<'_>, entry: &Entry) {
        *entry
            .proven_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.metrics.cache("plaintext", "revalidated");
    }

    /// Forgets the flight's entry (the object changed or access was refused).
    pub fn forget(&self, guard: &FlightGuard<'_>) {
        guard.forget();
    }

    /// Drops every expired plaintext every `every`, until the task is dropped: an expired entry
    /// is never served, and with this it also leaves memory within `every` of its expiry, even
    /// when no Mount stores or asks for anything (`server.rs` runs it every
    /// [`SWEEP_EXPIRED_EVERY`]).
    pub async fn sweep_expired(self: Arc<Self>, every: Duration) {
        self.entries.remove_expired_every(every).await;
    }

    /// Bytes held: the entries' weights.
    pub fn bytes(&self) -> usize {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests;
