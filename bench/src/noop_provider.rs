//! The baseline of the re-Mount throughput figure: the CSI provider service on the same kind of
//! unix socket, through the same tonic stack, answering every Mount with the workload's files
//! from memory and doing nothing else (no attributes parsed, no AWS call, no cache).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use keywarden_proto::csi::csi_driver_provider_server::{
    CsiDriverProvider, CsiDriverProviderServer,
};
use keywarden_proto::csi::{
    File, MountRequest, MountResponse, ObjectVersion, VersionRequest, VersionResponse,
};
use keywarden_runtime::{shutdown, socket};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use crate::workload::Workload;

/// The service: one prepared answer.
#[derive(Debug, Clone)]
pub struct NoopProvider {
    answer: Arc<MountResponse>,
}

impl NoopProvider {
    /// Answers with the files of `workload`'s objects, as the provider writes them.
    pub fn new(workload: &Workload) -> anyhow::Result<Self> {
        let mut answer = MountResponse::default();
        for object in &workload.objects {
            answer.object_version.push(ObjectVersion {
                id: object.path.clone(),
                version: "1".into(),
            });
            answer.files.push(File {
                path: object.path.clone(),
                mode: 0o644,
                contents: object.plaintext()?.into(),
            });
        }
        Ok(Self {
            answer: Arc::new(answer),
        })
    }
}

#[tonic::async_trait]
impl CsiDriverProvider for NoopProvider {
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: "v1alpha1".into(),
            runtime_name: "noop".into(),
            runtime_version: "0".into(),
        }))
    }

    async fn mount(
        &self,
        _request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        Ok(Response::new(MountResponse::clone(&self.answer)))
    }
}

/// Serves [`NoopProvider`] on `socket` until SIGTERM or SIGINT (mode 0600, removed at exit).
pub async fn serve(socket: &Path, workload: &Workload) -> anyhow::Result<()> {
    let service = NoopProvider::new(workload)?;
    let (listener, _guard) = socket::bind(socket, 0o600)
        .with_context(|| format!("cannot serve on {}", socket.display()))?;
    tonic::transport::Server::builder()
        .add_service(CsiDriverProviderServer::new(service))
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(listener),
            shutdown::signal_received(),
        )
        .await
        .context("serving the no-op provider")
}
