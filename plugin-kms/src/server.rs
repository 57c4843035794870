//! The plugin's wiring: its state, both KMS services, the key watcher and health checker in the
//! background, and the readiness check (the kept KMS health); `keywarden_runtime::serve` does
//! the serving. The background tasks stop once the socket has drained.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keywarden_proto::kms_v1beta1::key_management_service_server::KeyManagementServiceServer as V1Server;
use keywarden_proto::kms_v2::key_management_service_server::KeyManagementServiceServer as V2Server;
use keywarden_runtime::admin::Probe;
use keywarden_runtime::{Admin, Listeners, ServeOptions};
use prometheus_client::registry::Registry;
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

pub use keywarden_runtime::ServeError;

/// How often expired plaintexts leave the decrypt cache when no request removes them.
const SWEEP_EXPIRED_EVERY: Duration = Duration::from_secs(10);

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
    let cache = DecryptCache::new(config.decrypt_cache_size, config.decrypt_cache_ttl);
    let plugin = Arc::new(Plugin::new(
        (kms.clone(), config.kms_timeout),
        keys.clone(),
        health.clone(),
        cache.clone(),
        Contexts {
            configured: config.context.clone(),
            allowed: config.decrypt_contexts.clone(),
        },
        metrics.clone(),
    ));

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(
        cache
            .clone()
            .sweep_expired(SWEEP_EXPIRED_EVERY, cancel.clone()),
    );
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
        (kms, cache),
        config.context.clone(),
        (config.health_interval, config.kms_timeout),
        cancel.clone(),
    ));
    tasks.close();

    let http_addr = match config.http_addr {
        HttpAddr::On(addr) if config.take_over_socket => Some(addr),
        _ => None,
    };
    let readiness: Arc<dyn Probe> = {
        let plugin = plugin.clone();
        Arc::new(move || {
            let reason = plugin.unhealthy();
            async move { reason.map_or(Ok(()), Err) }
        })
    };
    let service = KmsService::new(plugin, metrics);
    let routes = tonic::service::Routes::new(V2Server::new(service.clone()))
        .add_service(V1Server::new(service));
    tracing::info!(
        socket = %listeners.socket_guard.path().display(),
        key = config.key.as_str(),
        decrypt_keys = config.decrypt_keys.len(),
        encryption_context = ?config.context,
        decrypt_encryption_contexts = config.decrypt_contexts.len(),
        kms_max_in_flight = config.kms_max_in_flight,
        kms_timeout = ?config.kms_timeout,
        decrypt_cache_ttl = ?config.decrypt_cache_ttl,
        "serving KMS v2 and v1beta1"
    );
    let result = keywarden_runtime::serve(
        listeners,
        routes,
        Admin {
            registry,
            readiness,
        },
        ServeOptions {
            request_timeout: CALL_TIMEOUT + Duration::from_secs(5),
            shutdown_grace: config.shutdown_grace,
            admin_when_free: http_addr,
        },
        shutdown,
    )
    .await;
    cancel.cancel();
    tasks.wait().await;
    result
}
