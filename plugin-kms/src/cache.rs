//! The decrypt cache: plaintexts of recently used ciphertexts, so that an apiserver restart (which
//! asks for every seed again) costs no KMS calls while the plugin stays up.
//!
//! Bounded LRU keyed by the SHA-256 of everything that decides the plaintext (API, key, context,
//! ciphertext); values are wiped from memory when evicted or dropped. Size 0 disables it.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::envelope::Context;

/// A cache entry's identity.
pub type CacheKey = [u8; 32];

/// Bounded, zeroizing LRU of decrypted plaintexts.
#[derive(Debug)]
pub struct DecryptCache {
    entries: Option<Mutex<LruCache<CacheKey, Zeroizing<Vec<u8>>>>>,
}

impl DecryptCache {
    /// A cache holding at most `capacity` plaintexts; `0` caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
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
        let entries = self.entries.as_ref()?;
        let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).cloned()
    }

    /// Remembers a plaintext, evicting (and wiping) the least recently used one when full.
    pub fn put(&self, key: CacheKey, plaintext: &[u8]) {
        if let Some(entries) = &self.entries {
            let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.put(key, Zeroizing::new(plaintext.to_vec()));
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |e| e.lock().unwrap_or_else(|p| p.into_inner()).len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
