//! The baseline of the plugin throughput figure: a tonic server implementing the same KMS v2
//! service on the same kind of unix socket, answering every call with fixed values and doing
//! nothing else. Its runtime is tokio's multi-threaded default, as `keywarden-kms` runs.

use std::path::Path;

use anyhow::Context;
use keywarden_proto::kms_v2::key_management_service_server::{
    KeyManagementService, KeyManagementServiceServer,
};
use keywarden_proto::kms_v2::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};
use keywarden_runtime::{shutdown, socket};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

/// The plaintext every Decrypt returns: a 32-byte seed, as the apiserver's.
const PLAINTEXT: [u8; 32] = [7; 32];
/// The key id of every answer.
const KEY_ID: &str = "noop";

/// The service: fixed answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopKms;

#[tonic::async_trait]
impl KeyManagementService for NoopKms {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: KEY_ID.into(),
        }))
    }

    async fn decrypt(
        &self,
        _request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        Ok(Response::new(DecryptResponse {
            plaintext: PLAINTEXT.to_vec().into(),
        }))
    }

    async fn encrypt(
        &self,
        _request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        Ok(Response::new(EncryptResponse {
            ciphertext: vec![1; 64],
            key_id: KEY_ID.into(),
            annotations: Default::default(),
        }))
    }
}

/// Serves [`NoopKms`] on `socket` until SIGTERM or SIGINT. The socket is created as
/// `keywarden-kms` creates its own (`keywarden_runtime::socket`: mode 0600, removed at exit).
pub async fn serve(socket: &Path) -> anyhow::Result<()> {
    let (listener, _guard) = socket::bind(socket, 0o600)
        .with_context(|| format!("cannot serve on {}", socket.display()))?;
    tonic::transport::Server::builder()
        .add_service(KeyManagementServiceServer::new(NoopKms))
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(listener),
            shutdown::signal_received(),
        )
        .await
        .context("serving the no-op KMS")
}
