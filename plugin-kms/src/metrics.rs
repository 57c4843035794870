//! The plugin's Prometheus metrics (docs/reference.md §3.2), registered in a registry `main` owns.
//!
//! Labels are fixed strings: API version, operation, outcome label. Key ids, request uids and
//! anything derived from data never become labels.

use keywarden_runtime::aws_metrics::{AwsCall, AwsCalls};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of one gRPC operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// `v2` or `v1beta1`.
    pub api: &'static str,
    /// `encrypt`, `decrypt`, `status`, `version`.
    pub operation: &'static str,
    /// `ok` or the error label.
    pub outcome: &'static str,
}

/// Labels of the decrypt cache counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Every metric the plugin exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    operations: Family<OperationLabels, Counter>,
    aws: AwsCalls,
    cache: Family<CacheLabels, Counter>,
    cache_entries: Gauge,
    healthy: Gauge,
    key_changes: Counter,
    on_demand: Counter,
    kms_in_flight: Gauge,
    coalesced: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them under `keywarden_kms_`.
    pub fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("keywarden_kms");
        let metrics = Self {
            operations: Family::default(),
            aws: AwsCalls::register(sub),
            cache: Family::default(),
            cache_entries: Gauge::default(),
            healthy: Gauge::default(),
            key_changes: Counter::default(),
            on_demand: Counter::default(),
            kms_in_flight: Gauge::default(),
            coalesced: Counter::default(),
        };
        sub.register(
            "operations",
            "Plugin gRPC operations by API version, operation and outcome",
            metrics.operations.clone(),
        );
        sub.register(
            "decrypt_cache",
            "Decrypt cache lookups by result (hit or miss)",
            metrics.cache.clone(),
        );
        sub.register(
            "decrypt_cache_entries",
            "Plaintexts held in the decrypt cache",
            metrics.cache_entries.clone(),
        );
        sub.register(
            "healthy",
            "1 when the last KMS evidence was good and the key is resolved, else 0",
            metrics.healthy.clone(),
        );
        sub.register(
            "key_changes",
            "Times the alias was found pointing at a different key",
            metrics.key_changes.clone(),
        );
        sub.register(
            "key_resolutions_on_demand",
            "Times a Decrypt naming an unknown key made the plugin resolve the alias again",
            metrics.on_demand.clone(),
        );
        sub.register(
            "aws_in_flight",
            "AWS KMS calls in flight now (bounded by --kms-max-in-flight)",
            metrics.kms_in_flight.clone(),
        );
        sub.register(
            "decrypt_coalesced",
            "Decrypts answered by a KMS call another request for the same ciphertext made",
            metrics.coalesced.clone(),
        );
        metrics
    }

    /// Records a finished gRPC operation.
    pub fn operation(&self, api: &'static str, operation: &'static str, outcome: &'static str) {
        self.operations
            .get_or_create(&OperationLabels {
                api,
                operation,
                outcome,
            })
            .inc();
    }

    /// Starts timing one AWS KMS call (`aws_request_duration_seconds{service="kms"}`).
    pub fn kms_call(&self, operation: &'static str) -> AwsCall {
        self.aws.start("kms", operation)
    }

    /// Records a decrypt cache lookup and the cache's size.
    pub fn cache_lookup(&self, hit: bool, entries: usize) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&CacheLabels { result }).inc();
        self.cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Records the cache's size.
    pub fn cache_size(&self, entries: usize) {
        self.cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Records the current health.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.set(i64::from(healthy));
    }

    /// Records an on-demand resolution of the alias.
    pub fn on_demand_resolution(&self) {
        self.on_demand.inc();
    }

    /// Adds `delta` to the calls in flight to AWS KMS.
    pub fn kms_in_flight(&self, delta: i64) {
        self.kms_in_flight.inc_by(delta);
    }

    /// Records a Decrypt that waited for another request's KMS call.
    pub fn coalesced(&self) {
        self.coalesced.inc();
    }

    /// Records that the alias now points at another key.
    pub fn key_changed(&self) {
        self.key_changes.inc();
    }
}
