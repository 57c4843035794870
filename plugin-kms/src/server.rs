//! Serving: both KMS services on the unix socket (behind the `:authority` repair), the admin
//! HTTP server, the key watcher and health checker in the background, and the bounded drain when
//! the shutdown signal arrives.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use keywarden_proto::kms_v1beta1::key_management_service_server::KeyManagementServiceServer as V1Server;
use keywarden_proto::kms_v2::key_management_service_server::KeyManagementServiceServer as V2Server;
use keywarden_runtime::admin::{self, Probe};
use keywarden_runtime::{AuthorityRepair, Listeners};
use prometheus_client::registry::Registry;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::DecryptCache;
use crate::cli::HttpAddr;
use crate::config::Config;
use crate::health::{self, Health};
use crate::keys::{self, KeyRing};
use crate::kms::{CALL_TIMEOUT, Kms};
use crate::metrics::Metrics;
use crate::plugin::{Contexts, Plugin};
use crate::service::KmsService;

/// How often a successor tries the admin port its predecessor still holds.
const ADMIN_RETRY: Duration = Duration::from_millis(200);

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Serves until `shutdown` resolves, then drains in-flight calls for at most
/// `config.shutdown_grace`. `kms` is the client built once in `main` (or a fake in tests).
pub async fn run(
    config: Config,
    kms: aws_sdk_kms::Client,
    listeners: Listeners,
    mut registry: Registry,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let metrics = Metrics::register(&mut registry);
    let kms = Kms::new(kms, metrics.clone(), config.kms_max_in_flight);
    let keys = Arc::new(KeyRing::new(
        config.key.clone(),
        config.decrypt_keys.clone(),
    ));
    if let Some(arn) = &config.resolved_key {
        keys.resolved(arn.clone());
    }
    let health = Arc::new(Health::new(metrics.clone()));
    let plugin = Arc::new(Plugin::new(
        kms.clone(),
        keys.clone(),
        health.clone(),
        DecryptCache::new(config.decrypt_cache_size),
        Contexts {
            configured: config.context.clone(),
            allowed: config.decrypt_contexts.clone(),
        },
        metrics.clone(),
    ));

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(keys::watch(
        keys.clone(),
        kms.clone(),
        health.clone(),
        metrics.clone(),
        config.key_refresh_interval,
        cancel.clone(),
    ));
    tasks.spawn(health::watch(
        health,
        keys.clone(),
        kms,
        config.context.clone(),
        config.health_interval,
        cancel.clone(),
    ));
    tasks.close();

    let serving = Arc::new(AtomicBool::new(false));
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = match (listeners.http, config.http_addr) {
        (Some(listener), _) => {
            let router = admin::router(registry, probes(plugin.clone(), serving.clone()));
            Some(tokio::spawn(admin::serve(listener, router, async {
                let _ = admin_stopped.await;
            })))
        }
        (None, HttpAddr::On(addr)) if config.take_over_socket => {
            let router = admin::router(registry, probes(plugin.clone(), serving.clone()));
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
        _ => None,
    };

    let socket_path = listeners.socket_guard.path().to_owned();
    let service = KmsService::new(plugin, metrics);
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = UnixListenerStream::new(listeners.socket).map_ok(AuthorityRepair::new);
    let grpc = tonic::transport::Server::builder()
        .timeout(CALL_TIMEOUT + Duration::from_secs(5))
        .add_service(V2Server::new(service.clone()))
        .add_service(V1Server::new(service))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = grpc_stopped.await;
        });
    let mut grpc = std::pin::pin!(grpc);
    serving.store(true, Ordering::SeqCst);
    tracing::info!(
        socket = %socket_path.display(),
        key = config.key.as_str(),
        decrypt_keys = config.decrypt_keys.len(),
        encryption_context = ?config.context,
        decrypt_encryption_contexts = config.decrypt_contexts.len(),
        kms_max_in_flight = config.kms_max_in_flight,
        "serving KMS v2 and v1beta1"
    );

    let result = tokio::select! {
        result = &mut grpc => result.map_err(ServeError::from),
        () = shutdown => {
            let _ = stop_grpc.send(());
            match tokio::time::timeout(config.shutdown_grace, &mut grpc).await {
                Ok(result) => result.map_err(ServeError::from),
                Err(_) => {
                    tracing::warn!(grace = ?config.shutdown_grace, "in-flight calls did not finish within the grace period");
                    Ok(())
                }
            }
        }
    };
    serving.store(false, Ordering::SeqCst);
    cancel.cancel();
    tasks.wait().await;
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

/// With `--take-over-socket`, the predecessor may still hold the admin port (both pods use the
/// host network): bind it as soon as the predecessor has gone. Until then its answers on the
/// port stand for both; it is told to stop once the successor serves the socket.
async fn port_when_free(
    addr: std::net::SocketAddr,
    stopped: &mut tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<Option<tokio::net::TcpListener>> {
    tracing::info!(%addr, "the admin port is in use (by the process this one takes over from); binding it when free");
    loop {
        tokio::select! {
            _ = &mut *stopped => return Ok(None),
            () = tokio::time::sleep(ADMIN_RETRY) => {}
        }
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "admin port free: serving /healthz /livez /readyz /metrics");
                return Ok(Some(listener));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e),
        }
    }
}

/// `/livez` fails only when the socket is not being served; `/healthz` and `/readyz` report
/// the kept KMS health (no AWS call).
fn probes(plugin: Arc<Plugin>, serving: Arc<AtomicBool>) -> Vec<(&'static str, Arc<dyn Probe>)> {
    let health = {
        let plugin = plugin.clone();
        move || {
            let reason = plugin.unhealthy();
            async move { reason.map_or(Ok(()), Err) }
        }
    };
    let healthz: Arc<dyn Probe> = Arc::new(health.clone());
    let readyz: Arc<dyn Probe> = Arc::new(health);
    let livez: Arc<dyn Probe> = Arc::new(move || {
        let serving = serving.load(Ordering::SeqCst);
        async move {
            if serving {
                Ok(())
            } else {
                Err("not serving".to_owned())
            }
        }
    });
    vec![
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/livez", livez),
    ]
}
