//! Serving a node-local gRPC server, the same way for both binaries: any tonic routes on the
//! unix socket behind the `:authority` repair, the admin HTTP port with `/metrics` and the
//! probes (`probes.rs`), and a drain bounded by the shutdown grace.
//!
//! Each binary's `server.rs` only wires its own services, state and readiness check, then
//! calls [`serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use prometheus_client::registry::Registry;
use tokio_stream::wrappers::UnixListenerStream;

use crate::admin::{self, Probe};
use crate::probes::{self, ServingState};
use crate::{AuthorityRepair, Listeners};

/// How often a successor tries the admin port its predecessor still holds.
const ADMIN_RETRY: Duration = Duration::from_millis(200);

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("{}", crate::catalogue::grpc_failed())]
    Grpc(#[source] tonic::transport::Error),
}

/// How the gRPC server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Upper bound of one request (tonic's `timeout`; the client's `grpc-timeout` may be
    /// shorter). When it passes, the handler's future is dropped.
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
    /// The admin port to bind once free, when `Listeners::http` is `None` because another
    /// process (the one this one takes over from) still holds it.
    pub admin_when_free: Option<SocketAddr>,
}

/// What the admin port serves besides the liveness the runtime knows by itself.
pub struct Admin {
    /// The registry with the binary's metrics; the process gauges are added.
    pub registry: Registry,
    /// The binary's readiness: can it do its job?
    pub readiness: Arc<dyn Probe>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

/// Serves `routes` on the socket and the admin endpoints on the HTTP listener until
/// `shutdown` resolves, then drains in-flight requests for at most `options.shutdown_grace`.
/// The socket file is removed (if still ours) before this returns.
pub async fn serve(
    listeners: Listeners,
    routes: tonic::service::Routes,
    admin: Admin,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let state = Arc::new(ServingState::default());
    let probes = probes::routes(
        state.clone(),
        listeners.socket_guard.path().to_owned(),
        admin.readiness,
    );
    let router = admin::router(admin.registry, probes);
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = match (listeners.http, options.admin_when_free) {
        (Some(listener), _) => Some(tokio::spawn(admin::serve(listener, router, async {
            let _ = admin_stopped.await;
        }))),
        (None, Some(addr)) => {
            let mut stopped = admin_stopped;
            Some(tokio::spawn(async move {
                match port_when_free(addr, &mut stopped).await? {
                    Some(listener) => {
                        admin::serve(listener, router, async {
                            let _ = stopped.await;
                        })
                        .await
                    }
                    None => Ok(()),
                }
            }))
        }
        (None, None) => None,
    };

    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = UnixListenerStream::new(listeners.socket).map_ok(AuthorityRepair::new);
    let grpc = tonic::transport::Server::builder()
        .timeout(options.request_timeout)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = grpc_stopped.await;
        });
    let mut grpc = std::pin::pin!(grpc);
    state.started();

    let result = tokio::select! {
        result = &mut grpc => result.map_err(ServeError::Grpc),
        () = shutdown => {
            state.draining();
            let _ = stop_grpc.send(());
            match tokio::time::timeout(options.shutdown_grace, &mut grpc).await {
                Ok(result) => result.map_err(ServeError::Grpc),
                Err(_) => {
                    tracing::warn!(grace = ?options.shutdown_grace, "in-flight requests did not finish within the grace period");
                    Ok(())
                }
            }
        }
    };
    state.stopped();
    let _ = stop_admin.send(());
    if let Some(task) = admin_task
        && let Ok(Err(e)) = task.await
    {
        tracing::warn!(error = %e, "admin HTTP server stopped with an error");
    }
    drop(listeners.socket_guard);
    tracing::info!("stopped");
    result
}

/// A successor that takes a socket over may find the admin port still held by its predecessor
/// (both pods use the host network): bind it as soon as the predecessor has gone. Until then
/// the predecessor's answers on the port stand for both.
async fn port_when_free(
    addr: SocketAddr,
    stopped: &mut tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<Option<tokio::net::TcpListener>> {
    tracing::info!(%addr, "the admin port is in use (by the process this one takes over from); binding it when free");
    loop {
        tokio::select! {
            _ = &mut *stopped => return Ok(None),
            () = tokio::time::sleep(ADMIN_RETRY) => {}
        }
        match crate::cli::HttpAddr::On(addr).bind().await {
            Ok(Some(listener)) => {
                tracing::info!(%addr, "admin port free: serving /livez /readyz /healthz /metrics");
                return Ok(Some(listener));
            }
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e),
        }
    }
}
