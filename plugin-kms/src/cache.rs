//! The decrypt cache: plaintexts of recently used ciphertexts, so that an apiserver restart (which
//! asks for every seed again) costs no KMS calls while the plugin stays up.
//!
//! Bounded LRU keyed by the SHA-256 of everything that decides the plaintext (API, key, context,
//! ciphertext); values are wiped from memory when evicted or dropped. Size 0 disables it.
//!
//! It also coalesces cold reads: while one KMS Decrypt of a ciphertext is in flight, every other
//! request for the same ciphertext waits for its answer instead of making its own. After a
//! restart an apiserver reads every object at once, and many objects share one seed, so without
//! this one seed would cost as many KMS calls as there were concurrent reads of it. The answer,
//! plaintext or error, is handed to every waiter (also when the cache keeps nothing) and dropped
//! (wiped) with the last of them. If the request making the call gives up (its client hung up), a
//! waiting request makes the call instead.

use keywarden_runtime::cache::{Bound, Cache, Evict, Lookup};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::envelope::Context;
use crate::error::PluginError;

/// A cache entry's identity.
pub type CacheKey = [u8; 32];

/// A Decrypt's answer, shared by every request coalesced onto one KMS call.
pub type Plaintext = Result<Zeroizing<Vec<u8>>, PluginError>;

/// Where [`DecryptCache::get_or_decrypt`] found its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// In the cache.
    Cached,
    /// In the cache once its turn came (stored by a request that finished meanwhile).
    CachedMeanwhile,
    /// From the call another request made while this one waited.
    Shared,
    /// From the call this request made.
    Called,
}

/// Bounded, zeroizing LRU of decrypted plaintexts, and the Decrypts in flight.
#[derive(Debug)]
pub struct DecryptCache {
    entries: Cache<CacheKey, Zeroizing<Vec<u8>>, PluginError>,
}

impl DecryptCache {
    /// A cache holding at most `capacity` plaintexts; `0` caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(Bound::Entries(capacity), Evict::LeastRecentlyUsed),
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

    /// A copy of the cached plaintext, marking it recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Zeroizing<Vec<u8>>> {
        self.entries.get(key)
    }

    /// Remembers a plaintext, evicting (and wiping) the least recently used one when full.
    pub fn put(&self, key: CacheKey, plaintext: &[u8]) {
        self.entries.insert(key, Zeroizing::new(plaintext.to_vec()));
    }

    /// The plaintext of `key`: cached, else the answer of the call in flight for it, else that
    /// of `decrypt`, made now and cached if it succeeded. Requests that waited on a call share its
    /// answer, error included; a request that finds no answer when its turn comes (the caller
    /// gave up) makes the call.
    pub async fn get_or_decrypt<F, Fut>(&self, key: &CacheKey, decrypt: F) -> (Plaintext, Answer)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Plaintext>,
    {
        if let Some(plaintext) = self.get(key) {
            return (Ok(plaintext), Answer::Cached);
        }
        let flight = self.entries.enter(key).await;
        match flight.lookup() {
            Lookup::Fresh(answer) => return (answer, Answer::Shared),
            Lookup::Valid(plaintext) => return (Ok(plaintext), Answer::CachedMeanwhile),
            Lookup::Miss => {}
        }
        let answer = decrypt().await;
        match &answer {
            Ok(plaintext) => flight.store(plaintext.clone()),
            Err(err) => flight.fail(err.clone()),
        }
        (answer, Answer::Called)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Ciphertexts with a Decrypt in flight.
    pub fn in_flight(&self) -> usize {
        self.entries.flights()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn evicts_least_recently_used() {
        let cache = DecryptCache::new(2);
        let ctx = Context::new();
        let [a, b, c] = [b"a", b"b", b"c"].map(|ct| DecryptCache::key("v2", "k", &ctx, ct));
        cache.put(a, b"1");
        cache.put(b, b"2");
        assert_eq!(cache.get(&a).as_deref().map(Vec::as_slice), Some(&b"1"[..]));
        cache.put(c, b"3");
        assert!(cache.get(&b).is_none(), "b was least recently used");
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_disables() {
        let cache = DecryptCache::new(0);
        let key = DecryptCache::key("v2", "k", &Context::new(), b"x");
        cache.put(key, b"1");
        assert!(cache.get(&key).is_none());
        assert!(cache.is_empty());
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

    fn plaintext(bytes: &[u8]) -> Plaintext {
        Ok(Zeroizing::new(bytes.to_vec()))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_call() {
        for capacity in [0, 10] {
            let cache = Arc::new(DecryptCache::new(capacity));
            let calls = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..50 {
                let (cache, calls) = (cache.clone(), calls.clone());
                tasks.push(tokio::spawn(async move {
                    cache
                        .get_or_decrypt(&[1; 32], || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            plaintext(b"7")
                        })
                        .await
                }));
            }
            let mut made = 0;
            for task in tasks {
                let (answer, source) = task.await.expect("joined");
                assert_eq!(answer.expect("plaintext").as_slice(), b"7");
                made += usize::from(source == Answer::Called);
            }
            assert_eq!((calls.load(Ordering::SeqCst), made), (1, 1));
            assert_eq!(cache.in_flight(), 0, "answered calls are forgotten");
            let (_, source) = cache
                .get_or_decrypt(&[1; 32], || async { plaintext(b"8") })
                .await;
            let expected = if capacity == 0 {
                Answer::Called
            } else {
                Answer::Cached
            };
            assert_eq!(
                source, expected,
                "a later request uses the cache, or calls anew"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_share_a_failure_that_is_not_cached() {
        let cache = Arc::new(DecryptCache::new(10));
        let failing = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(PluginError::BadCiphertext { code: "x".into() })
        };
        let (a, b) = tokio::join!(
            cache.get_or_decrypt(&[3; 32], failing),
            cache.get_or_decrypt(&[3; 32], || async { plaintext(b"never") }),
        );
        assert_eq!((a.1, b.1), (Answer::Called, Answer::Shared));
        assert!(a.0.is_err() && b.0.is_err());
        assert!(cache.is_empty() && cache.in_flight() == 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_gives_up_hands_the_call_over() {
        let cache = Arc::new(DecryptCache::new(10));
        let first = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_decrypt(&[2; 32], || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        plaintext(b"1")
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_decrypt(&[2; 32], || async { plaintext(b"2") })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        let (answer, source) = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("not stuck")
            .expect("joined");
        assert_eq!(
            (answer.expect("plaintext").as_slice(), source),
            (&b"2"[..], Answer::Called)
        );
        assert_eq!(cache.in_flight(), 0);
    }
}
