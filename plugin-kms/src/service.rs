//! The two gRPC services on the plugin socket, `v2.KeyManagementService` and
//! `v1beta1.KeyManagementService`: request logging, metrics, and nothing else; the work is in
//! [`Plugin`].
//!
//! Secrets are wiped as soon as they are no longer needed: the plaintext of an Encrypt request
//! once KMS has it, and the plaintext of a Decrypt response once it has been encoded (the
//! response holds it in a [`wiping`] buffer).

use keywarden_runtime::catalogue::prefix;
use std::sync::Arc;

use bytes::Bytes;
use zeroize::Zeroizing;

use keywarden_proto::kms_v1beta1 as v1;
use keywarden_proto::kms_v2 as v2;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::error::PluginError;
use crate::metrics::Metrics;
use crate::plugin::{Api, Plugin};

/// The version string of `v2.StatusResponse`.
pub const V2_VERSION: &str = "v2";
/// The version string of `v1beta1.VersionResponse`.
pub const V1_VERSION: &str = "v1beta1";
/// `runtime_name` of `v1beta1.VersionResponse`.
pub const RUNTIME_NAME: &str = "keywarden";

/// Both services share one plugin.
#[derive(Debug, Clone)]
pub struct KmsService {
    plugin: Arc<Plugin>,
    metrics: Metrics,
}

impl KmsService {
    /// Serves `plugin`.
    pub fn new(plugin: Arc<Plugin>, metrics: Metrics) -> Self {
        Self { plugin, metrics }
    }

    fn finish<T>(
        &self,
        api: Api,
        operation: &'static str,
        uid: &str,
        result: Result<T, PluginError>,
    ) -> Result<Response<T>, Status> {
        // The request's own fields are logged as a bounded prefix: they are checked after the
        // span opens (a key id of up to 1 KiB is valid, the gRPC limit allows megabytes).
        let uid = prefix(uid);
        let uid = uid.as_str();
        match result {
            Ok(response) => {
                self.metrics.operation(api.name(), operation, "ok");
                tracing::debug!(api = api.name(), operation, uid, "served");
                Ok(Response::new(response))
            }
            Err(err) => {
                self.metrics.operation(api.name(), operation, err.label());
                tracing::warn!(
                    api = api.name(),
                    operation,
                    uid,
                    code = ?err.grpc_code(),
                    error = %err,
                    "request failed"
                );
                Err(err.into())
            }
        }
    }
}

/// The span of one Encrypt or Decrypt: its API, operation, request id (the apiserver's `uid`
/// when it sends one) and, once known, the key id, each as a bounded prefix. Never plaintext,
/// ciphertext or annotations.
fn request_span(api: Api, operation: &'static str, uid: &str) -> tracing::Span {
    let request_id = if uid.is_empty() {
        keywarden_runtime::telemetry::request_id()
    } else {
        prefix(uid)
    };
    tracing::info_span!(
        "kms",
        api = api.name(),
        operation,
        request_id = %request_id,
        key_id = tracing::field::Empty,
    )
}

/// A response buffer that owns the plaintext without copying it: the gRPC encoder reads it, and
/// the vector is zeroed when the response is dropped right after encoding.
pub fn wiping(plaintext: Zeroizing<Vec<u8>>) -> Bytes {
    Bytes::from_owner(plaintext)
}

#[tonic::async_trait]
impl v2::key_management_service_server::KeyManagementService for KmsService {
    async fn status(
        &self,
        _request: Request<v2::StatusRequest>,
    ) -> Result<Response<v2::StatusResponse>, Status> {
        let (healthz, key_id) = self.plugin.status();
        self.metrics.operation(Api::V2.name(), "status", "ok");
        Ok(Response::new(v2::StatusResponse {
            version: V2_VERSION.to_owned(),
            healthz,
            key_id,
        }))
    }

    async fn decrypt(
        &self,
        request: Request<v2::DecryptRequest>,
    ) -> Result<Response<v2::DecryptResponse>, Status> {
        let request = request.into_inner();
        let span = request_span(Api::V2, "decrypt", &request.uid);
        span.record("key_id", prefix(&request.key_id).as_str());
        let result = self
            .plugin
            .decrypt_v2(&request.ciphertext, &request.key_id, &request.annotations)
            .instrument(span.clone())
            .await
            .map(|plaintext| v2::DecryptResponse {
                plaintext: wiping(plaintext),
            });
        span.in_scope(|| self.finish(Api::V2, "decrypt", &request.uid, result))
    }

    async fn encrypt(
        &self,
        request: Request<v2::EncryptRequest>,
    ) -> Result<Response<v2::EncryptResponse>, Status> {
        let mut request = request.into_inner();
        let span = request_span(Api::V2, "encrypt", &request.uid);
        let result = self
            .plugin
            .encrypt(Api::V2, &request.plaintext)
            .instrument(span.clone())
            .await
            .map(|e| v2::EncryptResponse {
                ciphertext: e.ciphertext,
                key_id: e.key_id,
                annotations: e.annotations,
            });
        zeroize::Zeroize::zeroize(&mut request.plaintext);
        let _entered = span.enter();
        if let Ok(response) = &result {
            span.record("key_id", response.key_id.as_str());
            tracing::info!(uid = %request.uid, key_id = %response.key_id, "encrypted a seed");
        }
        self.finish(Api::V2, "encrypt", &request.uid, result)
    }
}

#[tonic::async_trait]
impl v1::key_management_service_server::KeyManagementService for KmsService {
    async fn version(
        &self,
        _request: Request<v1::VersionRequest>,
    ) -> Result<Response<v1::VersionResponse>, Status> {
        self.metrics.operation(Api::V1beta1.name(), "version", "ok");
        Ok(Response::new(v1::VersionResponse {
            version: V1_VERSION.to_owned(),
            runtime_name: RUNTIME_NAME.to_owned(),
            runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn decrypt(
        &self,
        request: Request<v1::DecryptRequest>,
    ) -> Result<Response<v1::DecryptResponse>, Status> {
        let request = request.into_inner();
        let span = request_span(Api::V1beta1, "decrypt", "");
        let result = self
            .plugin
            .decrypt_v1(&request.cipher)
            .instrument(span.clone())
            .await
            .map(|plain| v1::DecryptResponse {
                plain: wiping(plain),
            });
        span.in_scope(|| self.finish(Api::V1beta1, "decrypt", "", result))
    }

    async fn encrypt(
        &self,
        request: Request<v1::EncryptRequest>,
    ) -> Result<Response<v1::EncryptResponse>, Status> {
        let mut request = request.into_inner();
        let span = request_span(Api::V1beta1, "encrypt", "");
        let result = self
            .plugin
            .encrypt(Api::V1beta1, &request.plain)
            .instrument(span.clone())
            .await
            .map(|e| v1::EncryptResponse {
                cipher: e.ciphertext,
            });
        zeroize::Zeroize::zeroize(&mut request.plain);
        span.in_scope(|| self.finish(Api::V1beta1, "encrypt", "", result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_response_encodes_the_zeroizing_plaintext_itself_not_a_copy() {
        let plaintext = Zeroizing::new(vec![0x5a; 32]);
        let at = plaintext.as_ptr();
        let response = v2::DecryptResponse {
            plaintext: wiping(plaintext),
        };
        assert_eq!(
            response.plaintext.as_ptr(),
            at,
            "no copy of the plaintext was made"
        );
        let encoded = response.encode_to_vec();
        let decoded = v2::DecryptResponse::decode(encoded.as_slice()).expect("decodes");
        assert_eq!(decoded.plaintext.as_ref(), &[0x5a; 32][..]);
    }
}
