//! The three AWS KMS calls the plugin makes (Encrypt, Decrypt, DescribeKey) on a client built
//! once in `main` and injected here; each call is bounded in time, timed into the latency
//! histogram and classified into a [`PluginError`].
//!
//! At most `--kms-max-in-flight` calls are in flight to AWS at once, whatever the apiservers
//! send: the rest wait for a slot (until their caller gives up). An apiserver that restarts with
//! an empty cache reads every seed at once, and that burst must not become a burst of KMS calls
//! beyond the account's request quota.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyState;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::aws_error;
use crate::catalogue;
use crate::envelope::Context;
use crate::error::PluginError;
use crate::metrics::Metrics;

/// Upper bound of one KMS call including the SDK's retries (and, for a call run on its own
/// task, its wait for a slot). A request waits for it at most `--kms-timeout` (2.5 s by
/// default, below the apiserver's 3 s); the call itself may go on to this bound, so that its
/// answer still reaches the health state and the decrypt cache (see [`crate::detached`]).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A place among the `--kms-max-in-flight` calls; a call made with it starts at once.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// What DescribeKey says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's ARN.
    pub arn: String,
    /// Why the key cannot be used now (`Disabled`, `PendingDeletion`, …), if it cannot.
    pub unusable: Option<String>,
}

/// AWS KMS, as the plugin uses it.
#[derive(Debug, Clone)]
pub struct Kms {
    client: aws_sdk_kms::Client,
    metrics: Metrics,
    slots: Arc<Semaphore>,
}

impl Kms {
    /// Wraps an injected client; at most `max_in_flight` calls (at least 1) run at once.
    pub fn new(client: aws_sdk_kms::Client, metrics: Metrics, max_in_flight: usize) -> Self {
        Self {
            client,
            metrics,
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Waits for a place among the calls in flight.
    pub async fn slot(&self) -> Result<Slot, PluginError> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map(|permit| Slot { _permit: permit })
            .map_err(|_| PluginError::Unavailable {
                reason: "shutting down".into(),
            })
    }

    /// `kms:Encrypt` of `plaintext` under `key_id` with `context`; returns the CiphertextBlob.
    pub async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<Vec<u8>, PluginError> {
        let slot = self.slot().await?;
        self.encrypt_in(slot, key_id, plaintext, context).await
    }

    /// [`Kms::encrypt`] in a slot the caller already holds.
    pub async fn encrypt_in(
        &self,
        slot: Slot,
        key_id: &str,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<Vec<u8>, PluginError> {
        let request = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(to_sdk(context))
            .send();
        let output = self.call("Encrypt", slot, request).await?;
        output
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| catalogue::kms_answer_lacks("ciphertext"))
    }

    /// `kms:Decrypt` of `blob` with `context`, naming the key when `key_id` is given. Returns
    /// the plaintext and the key KMS says it used.
    pub async fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &Context,
    ) -> Result<(Zeroizing<Vec<u8>>, Option<String>), PluginError> {
        let slot = self.slot().await?;
        self.decrypt_in(slot, key_id, blob, context).await
    }

    /// [`Kms::decrypt`] in a slot the caller already holds.
    pub async fn decrypt_in(
        &self,
        slot: Slot,
        key_id: Option<&str>,
        blob: &[u8],
        context: &Context,
    ) -> Result<(Zeroizing<Vec<u8>>, Option<String>), PluginError> {
        let request = self
            .client
            .decrypt()
            .set_key_id(key_id.map(str::to_owned))
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(to_sdk(context))
            .send();
        let output = self.call("Decrypt", slot, request).await?;
        let used = output.key_id;
        let plaintext = output
            .plaintext
            .map(|p| Zeroizing::new(p.into_inner()))
            .ok_or_else(|| catalogue::kms_answer_lacks("plaintext"))?;
        Ok((plaintext, used))
    }

    /// `kms:DescribeKey`: the ARN of the key `key` (id, ARN, alias, alias ARN) names now.
    pub async fn describe(&self, key: &str) -> Result<KeyInfo, PluginError> {
        let request = self.client.describe_key().key_id(key).send();
        let slot = self.slot().await?;
        let output = self.call("DescribeKey", slot, request).await?;
        let meta = output
            .key_metadata
            .ok_or_else(|| catalogue::describe_lacks("key metadata"))?;
        let arn = meta
            .arn()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| catalogue::describe_lacks("key ARN"))?
            .to_owned();
        let unusable = match meta.key_state() {
            None | Some(KeyState::Enabled) => None,
            Some(state) => Some(state.as_str().to_owned()),
        };
        Ok(KeyInfo { arn, unusable })
    }

    async fn call<T, E>(
        &self,
        operation: &'static str,
        _slot: Slot,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, PluginError>
    where
        E: ProvideErrorMetadata
            + keywarden_runtime::aws_error::ProvideErrorKind
            + std::error::Error
            + 'static,
    {
        self.metrics.kms_in_flight(1);
        let _done = InFlight(&self.metrics);
        let timer = self.metrics.kms_call(operation);
        let result = match tokio::time::timeout(CALL_TIMEOUT, request).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let mapped = aws_error::classify(&err, status);
                tracing::warn!(
                    operation,
                    error = aws_error::describe(&err, status),
                    code = ?mapped.grpc_code(),
                    "AWS KMS call failed"
                );
                Err(mapped)
            }
            Err(_) => {
                tracing::warn!(operation, timeout = ?CALL_TIMEOUT, "AWS KMS call timed out");
                Err(PluginError::Unavailable {
                    reason: "timeout".into(),
                })
            }
        };
        timer.finish(result.as_ref().map_or_else(PluginError::label, |_| "ok"));
        result
    }
}

/// Counts a call out of the in-flight gauge when it ends, also when its caller gave up.
struct InFlight<'m>(&'m Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.kms_in_flight(-1);
    }
}

fn to_sdk(context: &Context) -> Option<std::collections::HashMap<String, String>> {
    (!context.is_empty()).then(|| {
        context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}
