//! The plugin's operations, shared by both API versions: Encrypt under the current key,
//! Decrypt under an allowed key and an acceptable context (through the cache, one KMS call per
//! ciphertext however many requests want it at once), and the `Status` view of kept state.
//!
//! Every KMS call of a request runs on its own task ([`crate::detached`]) and the request waits
//! for KMS at most `--kms-timeout` once the call is made: whether or not the apiserver is still
//! waiting, the outcome reaches the health state, and a Decrypt's plaintext the cache.
//!
//! Every check that can refuse a Decrypt (format, limits, context, key) runs before KMS is
//! asked: stored data cannot make the plugin use a key or a context it was not configured for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cache::{CacheKey, DecryptCache, Joined, Plaintext};
use crate::catalogue;
use crate::context::check_context;
use crate::detached;
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
    /// `--kms-timeout`.
    wait: Duration,
}

impl Plugin {
    /// Assembles the plugin from its parts; a request waits for KMS at most `wait`.
    pub fn new(
        (kms, wait): (Kms, Duration),
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
            wait,
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
        let blob = self.encrypt_detached(&key_id, plaintext).await?;
        let ciphertext = match api {
            Api::V2 => envelope::frame(&blob)?,
            Api::V1beta1 => envelope::frame_v1beta1(&blob, &key_id, context)?,
        };
        self.cache.put(
            DecryptCache::key(api.name(), &key_id, context, &ciphertext),
            &key_id,
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

    /// `kms:Encrypt` on its own task: the request waits for KMS at most `--kms-timeout`, the
    /// outcome reaches health either way, and a refusal of the key drops its cached plaintexts.
    async fn encrypt_detached(
        &self,
        key_id: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let (key, plaintext) = (key_id.to_owned(), Zeroizing::new(plaintext.to_vec()));
        let context = self.contexts.configured.clone();
        let (cache, health) = (self.cache.clone(), self.health.clone());
        let learned = key.clone();
        detached::spawn(
            &self.kms,
            self.wait,
            move |kms, slot| async move { kms.encrypt_in(slot, &key, &plaintext, &context).await },
            move |answer| cache.learn(&learned, answer),
            move |evidence| health.record(Op::Encrypt, evidence),
        )
        .answer()
        .await
    }

    /// The plaintext of `blob` under `key_id`: from the cache, else from one KMS call shared by
    /// every concurrent request for the same ciphertext, run on its own task so that its answer
    /// is kept (and recorded as health evidence) even when every request gives up on it.
    async fn decrypt_once(
        &self,
        cache_key: CacheKey,
        key_id: &str,
        blob: &[u8],
        context: &Context,
    ) -> Plaintext {
        let joined = self.cache.join_or_start(&cache_key, key_id, |settle| {
            let (key, blob, context) = (key_id.to_owned(), blob.to_vec(), context.clone());
            let (keys, health) = (self.keys.clone(), self.health.clone());
            let current = key.clone();
            detached::spawn(
                &self.kms,
                self.wait,
                move |kms, slot| async move {
                    let (plaintext, used) =
                        kms.decrypt_in(slot, Some(&key), &blob, &context).await?;
                    if used.as_deref().is_some_and(|used| used != key) {
                        return Err(PluginError::BadCiphertext {
                            code: "decrypted under another key".into(),
                        });
                    }
                    Ok(plaintext)
                },
                move |answer| settle.settle(answer),
                move |evidence| {
                    if keys.current().as_deref() == Some(current.as_str()) {
                        health.record(Op::Decrypt, evidence);
                    }
                },
            )
        });
        let entries = self.cache.len();
        let pending = match joined {
            Joined::Cached(plaintext) => {
                self.metrics.cache_lookup(true, entries);
                return Ok(plaintext);
            }
            Joined::Shared(pending) => {
                self.metrics.cache_lookup(false, entries);
                self.metrics.coalesced();
                pending
            }
            Joined::Started(pending) => {
                self.metrics.cache_lookup(false, entries);
                pending
            }
        };
        pending.answer().await
    }
}
