//! The provider's wiring: the Mount pipeline and its state, the CSI service, and the readiness
//! check (its own socket answers `Version`); `keywarden_runtime::serve` does the serving.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keywarden_proto::csi::VersionRequest;
use keywarden_proto::csi::csi_driver_provider_client::CsiDriverProviderClient;
use keywarden_proto::csi::csi_driver_provider_server::CsiDriverProviderServer;
use keywarden_runtime::admin::Probe;
use keywarden_runtime::{Admin, Listeners, ServeOptions};
use prometheus_client::registry::Registry;

use crate::aws::SharedAws;
use crate::budget::NodeBudget;
use crate::cache::{PlaintextCache, SWEEP_EXPIRED_EVERY};
use crate::catalogue;
use crate::cli::WriteMode;
use crate::config::ServeConfig;
use crate::credentials::CredentialCache;
use crate::http_client::HttpClient;
use crate::identity::IdentityResolver;
use crate::kube_api::KubeApi;
use crate::limits::MAX_REQUEST_BYTES;
use crate::metrics::Metrics;
use crate::mount::{Mounter, Output};
use crate::plan_cache::PlanCache;
use crate::service::{Admission, ProviderService};
use tokio_util::task::AbortOnDropHandle;

/// How long the readiness probe waits for the provider's own socket to answer `Version`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] keywarden_runtime::ServeError),
    /// Something the identities need could not be set up.
    #[error("{}", catalogue::setup_failed(.what))]
    Setup {
        /// What could not be set up.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The identity resolver of a provider: its policy, the Kubernetes API for role lookups, and
/// the credential cache with the Pod Identity agent client.
pub fn identity_resolver(
    config: &ServeConfig,
    metrics: Metrics,
) -> Result<IdentityResolver, ServeError> {
    let kube = KubeApi::new(config.kubernetes_api.as_deref()).map_err(|e| ServeError::Setup {
        what: catalogue::kube_client(),
        source: e.into(),
    })?;
    if kube.is_none() {
        tracing::info!("no Kubernetes API: IRSA needs roleArn in each SecretProviderClass");
    }
    let http = HttpClient::new(rustls::RootCertStore::empty(), config.pod_identity_timeout)
        .map_err(|e| ServeError::Setup {
            what: catalogue::agent_client(),
            source: e.into(),
        })?;
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
    let cache = PlaintextCache::new(config.cache_ttl, config.cache_max_bytes, metrics.clone())
        .with_revalidate_window(config.revalidate_window);
    let cache = Arc::new(if config.coalesce {
        cache
    } else {
        cache.without_coalescing()
    });
    // Ends with this function (dropped when `serve` returns, or on an early error).
    let sweeper = AbortOnDropHandle::new(tokio::spawn(
        cache.clone().sweep_expired(SWEEP_EXPIRED_EVERY),
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
    let plans = Arc::new(PlanCache::default().counted(metrics.clone()));
    let service = ProviderService::new(
        mounter,
        Admission {
            max_in_flight: config.max_concurrent_mounts,
            budget: NodeBudget::new(config.max_inflight_bytes),
            max_response_bytes: config.limits.max_response_bytes,
            sync_controller: config.sync_controller,
        },
        config.mount_timeout,
        metrics,
        plans,
    );
    let socket = listeners.socket_guard.path().to_owned();
    let readiness: Arc<dyn Probe> = Arc::new(move || dial_self(socket.clone()));
    let routes = tonic::service::Routes::new(
        CsiDriverProviderServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES),
    );
    let serving = if config.sync_controller {
        "serving the Secrets Store sync controller"
    } else {
        "serving the CSI driver"
    };
    tracing::info!(socket = %listeners.socket_guard.path().display(), "{serving}");
    keywarden_runtime::serve(
        listeners,
        routes,
        Admin {
            registry,
            readiness,
        },
        ServeOptions {
            request_timeout: config.mount_timeout + Duration::from_secs(5),
            shutdown_grace: config.shutdown_grace,
            admin_when_free: None,
        },
        shutdown,
    )
    .await?;
    drop(sweeper);
    Ok(())
}

/// Calls `Version` on our own socket, as the driver would.
async fn dial_self(socket: PathBuf) -> Result<(), String> {
    let call = async {
        let uri = format!("unix://{}", socket.display());
        let channel = tonic::transport::Endpoint::from_shared(uri)
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| catalogue::health_no_connect(socket.display(), e))?;
        CsiDriverProviderClient::new(channel)
            .version(VersionRequest {
                version: "v1alpha1".into(),
            })
            .await
            .map_err(|s| catalogue::health_version_failed(s.message()))?;
        Ok(())
    };
    tokio::time::timeout(HEALTH_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(catalogue::health_timeout(&HEALTH_TIMEOUT)))
}
