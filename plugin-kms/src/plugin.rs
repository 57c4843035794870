//! The plugin's operations, shared by both API versions: Encrypt under the current key,
//! Decrypt under an allowed key and an acceptable context (through the cache, one KMS call per
//! ciphertext however many requests want it at once), and the `Status` view of kept state.
//!
//! Every check that can refuse a Decrypt (format, limits, context, key) runs before KMS is
//! asked: stored data cannot make the plugin use a key or a context it was not configured for.

use std::collections::HashMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::cache::{Answer, CacheKey, DecryptCache, Plaintext};
use crate::catalogue;
use crate::context::check_context;
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

/// What the plugin encrypts with and accepts for Decrypt besides keys.
#[derive(Debug, Clone, Default)]
pub struct Contexts {
    /// The encryption context of new ciphertexts (`--encryption-context`).
    pub configured: Context,
    /// Recorded contexts accepted although they lack configured pairs
    /// (`--decrypt-encryption-contexts`).
    pub allowed: Vec<Context>,
}

/// Everything a request needs.
#[derive(Debug)]
pub struct Plugin {
    kms: Kms,
    keys: Arc<KeyRing>,
    health: Arc<Health>,
    cache: DecryptCache,
    contexts: Contexts,
    metrics: Metrics,
}

impl Plugin {
    /// Assembles the plugin from its parts.
    pub fn new(
        kms: Kms,
        keys: Arc<KeyRing>,
        health: Arc<Health>,
        cache: DecryptCache,
        contexts: Contexts,
        metrics: Metrics,
    ) -> Self {
        Self {
            kms,
            keys,
            health,
            cache,
            contexts,
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
            return Err(catalogue::plaintext_size(plaintext.len(), MAX_PLAINTEXT));
        }
        let key_id = self
            .keys
            .current()
            .ok_or_else(|| PluginError::NotReady(self.keys.unresolved().unwrap_or_default()))?;
        let context = &self.contexts.configured;
        let result = self.kms.encrypt(&key_id, plaintext, context).await;
        self.health.observe(Op::Encrypt, &result);
        let blob = result?;
        let ciphertext = match api {
            Api::V2 => envelope::frame(&blob)?,
            Api::V1beta1 => envelope::frame_v1beta1(&blob, &key_id, context)?,
        };
        self.cache.put(
            DecryptCache::key(api.name(), &key_id, context, &ciphertext),
            plaintext,
        );
        self.metrics.cache_size(self.cache.len());
        Ok(Encrypted {
            ciphertext,
            annotations: envelope::annotations(context),
            key_id,
        })
    }

    /// v2 Decrypt: the context recorded in `annotations` must be acceptable and the key allowed
    /// (resolving the alias again if the key is new), both before KMS is asked.
    pub async fn decrypt_v2(
        &self,
        ciphertext: &[u8],
        key_id: &str,
        annotations: &HashMap<String, Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let (blob, context) =
            envelope::decrypt_request(ciphertext, key_id, annotations, &self.contexts.configured)?;
        check_context(&context, &self.contexts.configured, &self.contexts.allowed)?;
        self.authorize(key_id).await?;
        let cache_key = DecryptCache::key(Api::V2.name(), key_id, &context, ciphertext);
        self.decrypt_once(cache_key, key_id, blob, &context).await
    }

    /// v1beta1 Decrypt: the ciphertext names its key and context (see [`envelope`]); the same
    /// checks as v2 run before KMS is asked. Ciphertexts of earlier versions name neither: they
    /// are tried under the configured context with each allowed key, current first, so KMS
    /// still only ever sees a key this plugin allows.
    pub async fn decrypt_v1(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let parsed = envelope::unframe_v1beta1(ciphertext)?;
        let context = parsed
            .context
            .unwrap_or_else(|| self.contexts.configured.clone());
        check_context(&context, &self.contexts.configured, &self.contexts.allowed)?;
        let api = Api::V1beta1.name();
        if let Some(key_id) = parsed.key_id {
            self.authorize(&key_id).await?;
            let cache_key = DecryptCache::key(api, &key_id, &context, ciphertext);
            return self
                .decrypt_once(cache_key, &key_id, parsed.blob, &context)
                .await;
        }
        let mut last = PluginError::KeyNotAllowed {
            key_id: String::new(),
        };
        for key_id in self.keys.allowed() {
            let cache_key = DecryptCache::key(api, &key_id, &context, ciphertext);
            match self
                .decrypt_once(cache_key, &key_id, parsed.blob, &context)
                .await
            {
                Err(err @ PluginError::BadCiphertext { .. }) => last = err,
                other => return other,
            }
        }
        Err(last)
    }

    async fn authorize(&self, key_id: &str) -> Result<(), PluginError> {
        self.keys
            .authorize(key_id, &self.kms, &self.health, &self.metrics)
            .await
    }

    /// The plaintext of `blob` under `key_id`: from the cache, else from one KMS call shared by
    /// every concurrent request for the same ciphertext.
    async fn decrypt_once(
        &self,
        cache_key: CacheKey,
        key_id: &str,
        blob: &[u8],
        context: &Context,
    ) -> Plaintext {
        let (answer, source) = self
            .cache
            .get_or_decrypt(&cache_key, || async {
                let result = self.kms.decrypt(Some(key_id), blob, context).await;
                let result = result.and_then(|(plaintext, used)| {
                    if used.as_deref().is_some_and(|used| used != key_id) {
                        return Err(PluginError::BadCiphertext {
                            code: "decrypted under another key".into(),
                        });
                    }
                    Ok(plaintext)
                });
                if self.keys.current().as_deref() == Some(key_id) {
                    self.health.observe_decrypt(&result);
                }
                result
            })
            .await;
        let entries = self.cache.len();
        match source {
            Answer::Cached => self.metrics.cache_lookup(true, entries),
            Answer::Shared => {
                self.metrics.cache_lookup(false, entries);
                self.metrics.coalesced();
            }
            Answer::CachedMeanwhile | Answer::Called => self.metrics.cache_lookup(false, entries),
        }
        answer
    }
}
