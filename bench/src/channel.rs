//! Client channels to a server's unix socket, dialled as the CSI driver and kube-apiserver do:
//! one HTTP/2 connection, with many calls in flight on it.

use std::path::Path;

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};

/// Connects to the gRPC server listening on `socket`.
pub async fn connect(socket: &Path) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("unix://{}", socket.display()))
        .context("socket path is not a valid endpoint")?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", socket.display()))
}
