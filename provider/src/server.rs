//! Serving: the gRPC service on the unix socket (behind the `:authority` repair), the admin
//! HTTP server, and the bounded drain when the shutdown signal arrives.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use keywarden_proto::csi::VersionRequest;
use keywarden_proto::csi::csi_driver_provider_client::CsiDriverProviderClient;
use keywarden_proto::csi::csi_driver_provider_server::CsiDriverProviderServer;
use keywarden_runtime::admin::{self, Probe};
use keywarden_runtime::{AuthorityRepair, Listeners};
use prometheus_client::registry::Registry;
use tokio_stream::wrappers::UnixListenerStream;

use crate::aws::SharedAws;
use crate::budget::NodeBudget;
use crate::cache::PlaintextCache;
use crate::cli::WriteMode;
use crate::config::ServeConfig;
use crate::credentials::CredentialCache;
use crate::http_client::HttpClient;
use crate::identity::IdentityResolver;
use crate::kube_api::KubeApi;
use crate::limits::MAX_REQUEST_BYTES;
use crate::metrics::Metrics;
use crate::mount::{Mounter, Output};
use crate::service::{Admission, ProviderService};

/// How long `/healthz` waits for the provider's own socket to answer `Version`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The admin HTTP server failed.
    #[error("admin HTTP server failed: {0}")]
    Admin(#[from] std::io::Error),
    /// Something the identities need could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// The identity resolver of a provider: its policy, the Kubernetes API for role lookups, and
/// the credential cache with the Pod Identity agent client.
pub fn identity_resolver(
    config: &ServeConfig,
    metrics: Metrics,
) -> Result<IdentityResolver, ServeError> {
    let kube = KubeApi::new(config.kubernetes_api.as_deref())
        .map_err(|e| ServeError::Setup(format!("Kubernetes API client: {e}")))?;
    if kube.is_none() {
        tracing::info!("no Kubernetes API: IRSA needs roleArn in each SecretProviderClass");
    }
    let http = HttpClient::new(rustls::RootCertStore::empty(), config.pod_identity_timeout)
        .map_err(|e| ServeError::Setup(format!("Pod Identity agent client: {e}")))?;
    let credentials = CredentialCache::new(http, config.pod_identity_endpoints.clone(), metrics);
    Ok(IdentityResolver::new(
        config.identity.clone(),
        config.token_audience.clone(),
        kube,
        credentials,
    ))
}

/// Serves until `shutdown` resolves, then drains in-flight Mounts for at most
/// `config.shutdown_grace`.
pub async fn run(
    config: ServeConfig,
    aws: SharedAws,
    listeners: Listeners,
    mut registry: Registry,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let metrics = Metrics::register(&mut registry);
    let output = match config.write_mode {
        WriteMode::Driver => Output::Driver,
        WriteMode::Provider => Output::Provider {
            allow_non_tmpfs: config.allow_non_tmpfs,
        },
    };
    let cache = Arc::new(PlaintextCache::new(
        config.cache_ttl,
        config.cache_max_bytes,
        metrics.clone(),
    ));
    let identities = Arc::new(identity_resolver(&config, metrics.clone())?);
    let mounter = Mounter::new(
        aws,
        identities,
        config.limits,
        output,
        cache,
        metrics.clone(),
    );
    let service = ProviderService::new(
        mounter,
        Admission {
            max_in_flight: config.max_concurrent_mounts,
            budget: NodeBudget::new(config.max_inflight_bytes),
            max_response_bytes: config.limits.max_response_bytes,
        },
        config.mount_timeout,
        metrics,
    );
    let socket_path = listeners.socket_guard.path().to_owned();
    let ready = Arc::new(AtomicBool::new(false));

    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = listeners.http.map(|listener| {
        let router = admin::router(registry, probes(socket_path.clone(), ready.clone()));
        tokio::spawn(admin::serve(listener, router, async {
            let _ = admin_stopped.await;
        }))
    });

    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = UnixListenerStream::new(listeners.socket).map_ok(AuthorityRepair::new);
    let grpc = tonic::transport::Server::builder()
        .timeout(config.mount_timeout + Duration::from_secs(5))
        .add_service(
            CsiDriverProviderServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, async {
            let _ = grpc_stopped.await;
        });
    let mut grpc = std::pin::pin!(grpc);
    ready.store(true, Ordering::SeqCst);
    tracing::info!(socket = %socket_path.display(), "serving the CSI driver");

    let result = tokio::select! {
        result = &mut grpc => result.map_err(ServeError::from),
        () = shutdown => {
            ready.store(false, Ordering::SeqCst);
            let _ = stop_grpc.send(());
            match tokio::time::timeout(config.shutdown_grace, &mut grpc).await {
                Ok(result) => result.map_err(ServeError::from),
                Err(_) => {
                    tracing::warn!(grace = ?config.shutdown_grace, "in-flight Mounts did not finish within the grace period");
                    Ok(())
                }
            }
        }
    };
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

fn probes(socket: PathBuf, ready: Arc<AtomicBool>) -> Vec<(&'static str, Arc<dyn Probe>)> {
    let healthz: Arc<dyn Probe> = Arc::new(move || {
        let socket = socket.clone();
        async move { dial_self(socket).await }
    });
    let readyz: Arc<dyn Probe> = Arc::new(move || {
        let ready = ready.load(Ordering::SeqCst);
        async move {
            if ready {
                Ok(())
            } else {
                Err("not serving".to_owned())
            }
        }
    });
    vec![("/healthz", healthz), ("/readyz", readyz)]
}

/// Calls `Version` on our own socket, as the driver would.
async fn dial_self(socket: PathBuf) -> Result<(), String> {
    let call = async {
        let uri = format!("unix://{}", socket.display());
        let channel = tonic::transport::Endpoint::from_shared(uri)
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        CsiDriverProviderClient::new(channel)
            .version(VersionRequest {
                version: "v1alpha1".into(),
            })
            .await
            .map_err(|s| format!("Version failed: {}", s.message()))?;
        Ok(())
    };
    tokio::time::timeout(HEALTH_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(format!("socket did not answer within {HEALTH_TIMEOUT:?}")))
}
