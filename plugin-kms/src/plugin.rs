//! The plugin's operations, shared by both API versions: Encrypt under the current key,
//! Decrypt under an allowed key (through the cache), and the `Status` view of kept state.

use std::collections::HashMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::cache::DecryptCache;
use crate::envelope::{self, Context, MAX_PLAINTEXT};
use crate::error::PluginError;
use crate::health::{Health, Op};
use crate::keys::KeyRing;
use crate::kms::Kms;
use crate::metrics::Metrics;

/// Which protocol a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `v2.KeyManagementService`.
    V2,
    /// `v1beta1.KeyManagementService`.
    V1beta1,
}

impl Api {
    /// The label used in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V1beta1 => "v1beta1",
        }
    }
}

/// The result of an Encrypt.
#[derive(Debug, Clone)]
pub struct Encrypted {
    /// Format byte + CiphertextBlob.
    pub ciphertext: Vec<u8>,
    /// The key ARN it was encrypted under.
    pub key_id: String,
    /// What Decrypt needs besides the ciphertext.
    pub annotations: HashMap<String, Vec<u8>>,
}

/// Everything a request needs.
#[derive(Debug)]
pub struct Plugin {
    kms: Kms,
    keys: Arc<KeyRing>,
    health: Arc<Health>,
    cache: DecryptCache,
    context: Context,
    metrics: Metrics,
}

impl Plugin {
    /// Assembles the plugin from its parts.
    pub fn new(
        kms: Kms,
        keys: Arc<KeyRing>,
        health: Arc<Health>,
        cache: DecryptCache,
        context: Context,
        metrics: Metrics,
    ) -> Self {
        Self {
            kms,
            keys,
            health,
            cache,
            context,
            metrics,
        }
    }

    /// `(healthz, key_id)` from kept state, without calling AWS.
    pub fn status(&self) -> (String, String) {
        let healthz = self
            .health
            .reason(&self.keys)
            .unwrap_or_else(|| "ok".to_owned());
        (healthz, self.keys.status_key_id())
    }

    /// Why the plugin is not healthy, if it is not.
    pub fn unhealthy(&self) -> Option<String> {
        self.health.reason(&self.keys)
    }

    /// Encrypts `plaintext` under the current key with the configured context.
    pub async fn encrypt(&self, api: Api, plaintext: &[u8]) -> Result<Encrypted, PluginError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(PluginError::InvalidArgument(format!(
                "plaintext is {} bytes; AWS KMS encrypts 1 to {MAX_PLAINTEXT} bytes",
                plaintext.len()
            )));
        }
        let key_id = self
            .keys
            .current()
            .ok_or_else(|| PluginError::NotReady(self.keys.unresolved().unwrap_or_default()))?;
        let result = self.kms.encrypt(&key_id, plaintext, &self.context).await;
        self.health.observe(Op::Encrypt, &result);
        let ciphertext = envelope::frame(&result?)?;
        let cache_id = match api {
            Api::V2 => key_id.as_str(),
            Api::V1beta1 => "",
        };
        self.cache.put(
            DecryptCache::key(api.name(), cache_id, &self.context, &ciphertext),
            plaintext,
        );
        self.metrics.cache_size(self.cache.len());
        Ok(Encrypted {
            ciphertext,
            annotations: envelope::annotations(&self.context),
            key_id,
        })
    }

    /// v2 Decrypt: the key must be allowed; the context is the one recorded in `annotations`.
    pub async fn decrypt_v2(
        &self,
        ciphertext: &[u8],
        key_id: &str,
        annotations: &HashMap<String, Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let (blob, context) =
            envelope::decrypt_request(ciphertext, key_id, annotations, &self.context)?;
        if !self.keys.allows(key_id) {
            return Err(PluginError::KeyNotAllowed {
                key_id: key_id.to_owned(),
            });
        }
        let cache_key = DecryptCache::key(Api::V2.name(), key_id, &context, ciphertext);
        if let Some(plaintext) = self.cached(&cache_key) {
            return Ok(plaintext);
        }
        let result = self.kms.decrypt(Some(key_id), blob, &context).await;
        self.observe_decrypt(Some(key_id), &result);
        let (plaintext, used) = result?;
        if used.as_deref().is_some_and(|used| used != key_id) {
            return Err(PluginError::BadCiphertext {
                code: "decrypted under another key".into(),
            });
        }
        self.cache.put(cache_key, &plaintext);
        self.metrics.cache_size(self.cache.len());
        Ok(plaintext)
    }

    /// v1beta1 Decrypt: no key id travels with the data, so KMS finds the key in the blob and
    /// the plaintext is only returned if that key is allowed.
    pub async fn decrypt_v1(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let blob = envelope::unframe(ciphertext)?;
        let cache_key = DecryptCache::key(Api::V1beta1.name(), "", &self.context, ciphertext);
        if let Some(plaintext) = self.cached(&cache_key) {
            return Ok(plaintext);
        }
        let result = self.kms.decrypt(None, blob, &self.context).await;
        let used = result.as_ref().ok().and_then(|(_, used)| used.clone());
        self.observe_decrypt(used.as_deref(), &result);
        let (plaintext, used) = result?;
        match used {
            Some(used) if self.keys.allows(&used) => {
                self.cache.put(cache_key, &plaintext);
                self.metrics.cache_size(self.cache.len());
                Ok(plaintext)
            }
            other => Err(PluginError::KeyNotAllowed {
                key_id: other.unwrap_or_default(),
            }),
        }
    }

    fn cached(&self, key: &crate::cache::CacheKey) -> Option<Zeroizing<Vec<u8>>> {
        let hit = self.cache.get(key);
        self.metrics.cache_lookup(hit.is_some(), self.cache.len());
        hit
    }

    /// A Decrypt under the current key is health evidence; under an old key only a failure to
    /// reach KMS is (an old key being disabled must not make the plugin unhealthy).
    fn observe_decrypt<T>(&self, key_id: Option<&str>, result: &Result<T, PluginError>) {
        let current = self.keys.current();
        if key_id.is_some() && key_id == current.as_deref() {
            self.health.observe(Op::Decrypt, result);
        } else if let Err(err @ PluginError::Unavailable { .. }) = result {
            self.health.failure(format!("Decrypt: {err}"));
        }
    }
}
