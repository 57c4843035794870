//! The decrypt cache: plaintexts of recently used ciphertexts, so that an apiserver restart (which
//! asks for every seed again) costs no KMS calls while the plugin stays up.
//!
//! Bounded LRU keyed by the SHA-256 of everything that decides the plaintext (API, key, context,
//! ciphertext); values are wiped from memory when evicted, expired or dropped. Size 0 disables it.
//!
//! An entry lives at most `--decrypt-cache-ttl` from the KMS call that produced it (a hit does
//! not extend it): a key disabled, scheduled for deletion or no longer decryptable by the
//! plugin's role stops being served within that bound, also to an apiserver that restarts and
//! asks for its seeds again. Sooner when the plugin learns it: any KMS answer that refuses a key
//! (`DisabledException`, `KMSInvalidStateException`, `AccessDeniedException`) drops every entry of
//! that key at once ([`DecryptCache::learn`]).
//!
//! It also coalesces cold reads: while one KMS Decrypt of a ciphertext is in flight, every other
//! request for the same ciphertext waits for its answer instead of making its own. After a
//! restart an apiserver reads every object at once, and many objects share one seed, so without
//! this one seed would cost as many KMS calls as there were concurrent reads of it. The call runs
//! on its own task ([`crate::detached`]): when every request waiting for it gives up, it still
//! ends, its plaintext is kept, and a retry is answered from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use keywarden_runtime::cache::{Bound, Cache, Evict};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::detached::Pending;
use crate::envelope::Context;
use crate::error::PluginError;

/// A cache entry's identity.
pub type CacheKey = [u8; 32];

/// A Decrypt's answer, shared by every request coalesced onto one KMS call.
pub type Plaintext = Result<Zeroizing<Vec<u8>>, PluginError>;

/// What [`DecryptCache::join_or_start`] found.
#[derive(Debug)]
pub enum Joined {
    /// The plaintext, cached.
    Cached(Zeroizing<Vec<u8>>),
    /// The call another request started, still in flight.
    Shared(Pending<Zeroizing<Vec<u8>>>),
    /// The call this request started.
    Started(Pending<Zeroizing<Vec<u8>>>),
}

/// Bounded, expiring, zeroizing LRU of decrypted plaintexts, and the Decrypts in flight. Clones
/// share one cache.
#[derive(Debug, Clone)]
pub struct DecryptCache {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    entries: Cache<CacheKey, Entry>,
    flights: Mutex<HashMap<CacheKey, Pending<Zeroizing<Vec<u8>>>>>,
    /// Per key ARN, how many times its entries were dropped; an entry of an older epoch is gone.
    epochs: Mutex<HashMap<String, u64>>,
}

#[derive(Clone)]
struct Entry {
    epoch: u64,
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Stores the answer of a call started by [`DecryptCache::join_or_start`] and ends its flight.
#[derive(Debug)]
pub struct Settle {
    cache: DecryptCache,
    key: CacheKey,
    key_id: String,
    epoch: u64,
}

impl Settle {
    /// Keeps a plaintext (unless the key's entries were dropped since the call started), learns
    /// from a refusal, and forgets the flight: later requests find the entry, or call anew.
    pub fn settle(self, answer: &Plaintext) {
        let shared = &self.cache.shared;
        let mut flights = lock(&shared.flights);
        if let Ok(plaintext) = answer
            && self.cache.epoch(&self.key_id) == self.epoch
        {
            shared.entries.insert(
                self.key,
                Entry {
                    epoch: self.epoch,
                    plaintext: plaintext.clone(),
                },
            );
        }
        flights.remove(&self.key);
        drop(flights);
        self.cache.learn(&self.key_id, answer);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DecryptCache {
    /// A cache holding at most `capacity` plaintexts, each for at most `ttl`; `0` (either)
    /// caches nothing.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                entries: Cache::new(Bound::Entries(capacity), Evict::LeastRecentlyUsed)
                    .with_ttl(ttl),
                flights: Mutex::default(),
                epochs: Mutex::default(),
            }),
        }
    }

    /// The key of a ciphertext decrypted through `api` with `key_id` and `context`.
    pub fn key(api: &str, key_id: &str, context: &Context, ciphertext: &[u8]) -> CacheKey {
        let mut hash = Sha256::new();
        for part in [api.as_bytes(), key_id.as_bytes()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.update((context.len() as u64).to_be_bytes());
        for (k, v) in context {
            for part in [k.as_bytes(), v.as_bytes()] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part);
            }
        }
        hash.update(ciphertext);
        hash.finalize().into()
    }

    /// A copy of the plaintext cached for `key` under `key_id`, marking it recently used.
    pub fn get(&self, key: &CacheKey, key_id: &str) -> Option<Zeroizing<Vec<u8>>> {
        let entry = self.shared.entries.get(key)?;
        if entry.epoch == self.epoch(key_id) {
            return Some(entry.plaintext);
        }
        self.shared.entries.remove(key);
        None
    }

    /// Remembers a plaintext of `key_id`, evicting (and wiping) the least recently used one
    /// when full.
    pub fn put(&self, key: CacheKey, key_id: &str, plaintext: &[u8]) {
        let epoch = self.epoch(key_id);
        self.shared.entries.insert(
            key,
            Entry {
                epoch,
                plaintext: Zeroizing::new(plaintext.to_vec()),
            },
        );
    }

    /// Drops expired plaintexts every `every` until `cancel` (`server.rs` runs it beside the
    /// cache): an entry past `--decrypt-cache-ttl` is never served, and with this it also
    /// leaves memory within `every`, even when no request comes.
    pub async fn sweep_expired(self, every: Duration, cancel: CancellationToken) {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = self.shared.entries.remove_expired_every(every) => {}
        }
    }

    /// The plaintext of `key`: cached, else the call in flight for it, else the call `start`
    /// makes now (given the [`Settle`] it must run when the call ends).
    pub fn join_or_start<F>(&self, key: &CacheKey, key_id: &str, start: F) -> Joined
    where
        F: FnOnce(Settle) -> Pending<Zeroizing<Vec<u8>>>,
    {
        if let Some(plaintext) = self.get(key, key_id) {
            return Joined::Cached(plaintext);
        }
        let mut flights = lock(&self.shared.flights);
        // Settled between the lookup above and this lock: the entry is there now.
        if let Some(plaintext) = self.get(key, key_id) {
            return Joined::Cached(plaintext);
        }
        // A flight whose task died without settling is replaced, not joined.
        if let Some(pending) = flights.get(key).filter(|p| p.is_alive()) {
            return Joined::Shared(pending.clone());
        }
        let pending = start(Settle {
            cache: self.clone(),
            key: *key,
            key_id: key_id.to_owned(),
            epoch: self.epoch(key_id),
        });
        flights.insert(*key, pending.clone());
        Joined::Started(pending)
    }

    /// Drops every entry of `key_id` when `answer` is KMS refusing that key (disabled, pending
    /// deletion, access denied): what was decrypted under it is not served any longer.
    pub fn learn<T>(&self, key_id: &str, answer: &Result<T, PluginError>) {
        if let Err(PluginError::KeyUnusable { .. } | PluginError::AccessDenied { .. }) = answer {
            self.forget_key(key_id);
        }
    }

    /// Drops every entry of `key_id` (they are wiped when next looked up or evicted).
    pub fn forget_key(&self, key_id: &str) {
        let mut epochs = lock(&self.shared.epochs);
        match epochs.get_mut(key_id) {
            Some(epoch) => *epoch += 1,
            None => {
                epochs.insert(key_id.to_owned(), 1);
            }
        }
    }

    fn epoch(&self, key_id: &str) -> u64 {
        lock(&self.shared.epochs).get(key_id).copied().unwrap_or(0)
    }

    /// Entries held (expired or dropped ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.shared.entries.len()
    }

    /// Ciphertexts with a Decrypt in flight.
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.flights).len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detached::{self, tests::kms};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn evicts_least_recently_used() {
        let cache = DecryptCache::new(2, HOUR);
        let ctx = Context::new();
        let [a, b, c] = [b"a", b"b", b"c"].map(|ct| DecryptCache::key("v2", "k", &ctx, ct));
        cache.put(a, "k", b"1");
        cache.put(b, "k", b"2");
        assert_eq!(
            cache.get(&a, "k").as_deref().map(Vec::as_slice),
            Some(&b"1"[..])
        );
        cache.put(c, "k", b"3");
        assert!(cache.get(&b, "k").is_none(), "b was least recently used");
        assert!(cache.get(&a, "k").is_some() && cache.get(&c, "k").is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_disables() {
        for (size, ttl) in [(0, HOUR), (10, Duration::ZERO)] {
            let cache = DecryptCache::new(size, ttl);
            let key = DecryptCache::key("v2", "k", &Context::new(), b"x");
            cache.put(key, "k", b"1");
            assert!(cache.get(&key, "k").is_none());
            assert!(cache.is_empty());
        }
    }

    #[test]
    fn every_input_is_part_of_the_key() {
        let ctx: Context = [("a".to_owned(), "b".to_owned())].into();
        let base = DecryptCache::key("v2", "k", &ctx, b"ct");
        assert_ne!(base, DecryptCache::key("v1beta1", "k", &ctx, b"ct"));
        assert_ne!(base, DecryptCache::key("v2", "k2", &ctx, b"ct"));
        assert_ne!(base, DecryptCache::key("v2", "k", &Context::new(), b"ct"));
        assert_ne!(base, DecryptCache::key("v2", "k", &ctx, b"cu"));
        assert_ne!(
            DecryptCache::key("v2", "ab", &Context::new(), b""),
            DecryptCache::key("v2", "a", &Context::new(), b"b")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_expires_a_ttl_after_it_was_stored_however_often_it_is_read() {
        let cache = DecryptCache::new(10, Duration::from_secs(60));
        cache.put([1; 32], "k", b"1");
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(11)).await;
            assert!(cache.get(&[1; 32], "k").is_some(), "read within the TTL");
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(cache.get(&[1; 32], "k").is_none(), "reads do not extend it");
    }

    #[test]
    fn a_refusal_drops_every_entry_of_that_key_and_only_those() {
        let cache = DecryptCache::new(10, HOUR);
        cache.put([1; 32], "a", b"1");
        cache.put([2; 32], "a", b"2");
        cache.put([3; 32], "b", b"3");
        cache.learn(
            "a",
            &Err::<(), _>(PluginError::Unavailable { reason: "x".into() }),
        );
        assert!(
            cache.get(&[1; 32], "a").is_some(),
            "an outage refuses no key"
        );
        cache.learn(
            "a",
            &Err::<(), _>(PluginError::KeyUnusable {
                code: "DisabledException".into(),
            }),
        );
        assert!(cache.get(&[1; 32], "a").is_none() && cache.get(&[2; 32], "a").is_none());
        assert!(
            cache.get(&[3; 32], "b").is_some(),
            "another key's entries stay"
        );
        cache.put([1; 32], "a", b"1");
        assert!(
            cache.get(&[1; 32], "a").is_some(),
            "a new decryption is kept again"
        );
        cache.learn(
            "a",
            &Err::<(), _>(PluginError::AccessDenied {
                code: "AccessDeniedException".into(),
            }),
        );
        assert!(cache.get(&[1; 32], "a").is_none());
    }

    fn start(cache: &DecryptCache, calls: &Arc<AtomicUsize>, secs: u64) -> Joined {
        let calls = calls.clone();
        cache.join_or_start(&[7; 32], "k", move |settle| {
            detached::spawn(
                &kms(4),
                Duration::from_secs(30),
                move |_, _slot| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    Ok(Zeroizing::new(b"7".to_vec()))
                },
                move |answer| settle.settle(answer),
                |_| {},
            )
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_drops_expired_plaintexts_nobody_asks_for() {
        let cache = DecryptCache::new(10, Duration::from_secs(60));
        cache.put([1; 32], "k", b"seed");
        let cancel = CancellationToken::new();
        let sweeper = tokio::spawn(
            cache
                .clone()
                .sweep_expired(Duration::from_secs(10), cancel.clone()),
        );
        tokio::time::sleep(Duration::from_secs(55)).await;
        assert_eq!(cache.len(), 1, "kept within the TTL");
        tokio::time::sleep(Duration::from_secs(15)).await;
        assert_eq!(cache.len(), 0, "gone within a period of its expiry");
        cancel.cancel();
        sweeper.await.expect("the sweeper stops when cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_task_died_is_not_joined() {
        let cache = DecryptCache::new(10, HOUR);
        let Joined::Started(dead) = cache.join_or_start(&[7; 32], "k", |settle| {
            detached::spawn(
                &kms(4),
                Duration::from_secs(30),
                |_, _slot| async { panic!("the call's task dies before it settles") },
                move |answer| settle.settle(answer),
                |_: detached::Evidence<'_, Zeroizing<Vec<u8>>>| {},
            )
        }) else {
            panic!("the first request starts the call")
        };
        assert!(dead.answer().await.is_err(), "its waiters are answered");
        let calls = Arc::new(AtomicUsize::new(0));
        let Joined::Started(retry) = start(&cache, &calls, 1) else {
            panic!("a retry starts a new call instead of joining the dead one")
        };
        assert_eq!(
            retry.answer().await.as_deref().map(Vec::as_slice),
            Ok(&b"7"[..])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_call_whose_answer_outlives_them() {
        let cache = DecryptCache::new(10, HOUR);
        let calls = Arc::new(AtomicUsize::new(0));
        let Joined::Started(first) = start(&cache, &calls, 5) else {
            panic!("first request starts the call")
        };
        let Joined::Shared(second) = start(&cache, &calls, 5) else {
            panic!("second request joins it")
        };
        let gave_up = tokio::time::timeout(Duration::from_secs(1), first.answer()).await;
        assert!(gave_up.is_err(), "the first caller gives up");
        let Joined::Shared(third) = start(&cache, &calls, 5) else {
            panic!("a retry joins the call still in flight")
        };
        assert_eq!(
            third.answer().await.as_deref().map(Vec::as_slice),
            Ok(&b"7"[..])
        );
        drop(second);
        assert!(
            matches!(start(&cache, &calls, 5), Joined::Cached(_)),
            "kept"
        );
        assert_eq!((calls.load(Ordering::SeqCst), cache.in_flight()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_arriving_after_the_key_was_refused_is_not_kept() {
        let cache = DecryptCache::new(10, HOUR);
        let calls = Arc::new(AtomicUsize::new(0));
        let Joined::Started(pending) = start(&cache, &calls, 2) else {
            panic!("starts")
        };
        cache.forget_key("k");
        assert!(pending.answer().await.is_ok(), "its callers get it");
        assert!(
            matches!(start(&cache, &calls, 2), Joined::Started(_)),
            "not kept"
        );
    }
}
