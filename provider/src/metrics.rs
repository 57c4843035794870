//! The provider's Prometheus metrics (docs/reference.md §2.9), registered in a registry `main` owns.
//!
//! Labels are low-cardinality by construction: outcomes and codes are fixed label strings, AWS
//! services and operations are constants. No pod, object or secret ever becomes a label.

use keywarden_runtime::aws_metrics::{AwsCall, AwsCalls};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Labels of a finished Mount.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MountLabels {
    /// `ok` or the error label.
    pub outcome: &'static str,
    /// gRPC code name.
    pub code: String,
}

/// Labels of one AWS call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsLabels {
    /// `s3`, `kms`, `sts`.
    pub service: &'static str,
    /// `GetObject`, `Decrypt`, …
    pub operation: &'static str,
    /// `ok` or the error label.
    pub outcome: &'static str,
}

/// Labels of a cache lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `plaintext` or `credentials`.
    pub cache: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Labels of a Mount duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// Every metric the provider exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    mounts: Family<MountLabels, Counter>,
    mount_duration: Family<OutcomeLabels, Histogram>,
    aws_calls: Family<AwsLabels, Counter>,
    aws: AwsCalls,
    cache: Family<CacheLabels, Counter>,
    in_flight: Gauge,
    failovers: Family<FailoverLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailoverLabels {
    service: &'static str,
}

impl Metrics {
    /// Creates the metrics and registers them under `keywarden_provider_`.
    pub fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("keywarden_provider");
        let metrics = Self {
            aws: AwsCalls::register(sub),
            mounts: Family::default(),
            mount_duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 100.0,
                ])
            }),
            aws_calls: Family::default(),
            cache: Family::default(),
            in_flight: Gauge::default(),
            failovers: Family::default(),
        };
        // Present from the start at zero, so dashboards and alerts see a failover as a change
        // rather than as a series that appears.
        for service in ["s3", "kms", "secretsmanager", "ssm", "sts"] {
            let _ = metrics.failovers.get_or_create(&FailoverLabels { service });
        }
        sub.register(
            "failovers",
            "Reads and decrypts sent to failoverRegion after the Mount's region failed, by service",
            metrics.failovers.clone(),
        );
        sub.register(
            "mounts",
            "Mount requests by outcome and gRPC code",
            metrics.mounts.clone(),
        );
        sub.register_with_unit(
            "mount_duration",
            "Mount duration by outcome",
            Unit::Seconds,
            metrics.mount_duration.clone(),
        );
        sub.register(
            "aws_calls",
            "AWS API calls by service, operation and outcome (also the count of \
             aws_request_duration_seconds, which has their latency)",
            metrics.aws_calls.clone(),
        );
        sub.register(
            "cache",
            "Cache lookups by cache and result",
            metrics.cache.clone(),
        );
        sub.register(
            "mounts_in_flight",
            "Mount requests being served",
            metrics.in_flight.clone(),
        );
        metrics
    }

    /// Records a finished Mount.
    pub fn mount_finished(&self, outcome: &'static str, code: tonic::Code, seconds: f64) {
        self.mounts
            .get_or_create(&MountLabels {
                outcome,
                code: format!("{code:?}"),
            })
            .inc();
        let outcome = if outcome == "ok" { "ok" } else { "error" };
        self.mount_duration
            .get_or_create(&OutcomeLabels { outcome })
            .observe(seconds);
    }

    /// Records one AWS call.
    pub fn aws_call(&self, service: &'static str, operation: &'static str, outcome: &'static str) {
        self.aws_calls
            .get_or_create(&AwsLabels {
                service,
                operation,
                outcome,
            })
            .inc();
    }

    /// Starts timing one AWS call; [`AwsRequest::finish`] records it in `aws_calls_total` and
    /// in the latency histogram both binaries share.
    pub fn aws_request(&self, service: &'static str, operation: &'static str) -> AwsRequest {
        AwsRequest {
            timer: self.aws.start(service, operation),
            metrics: self.clone(),
            service,
            operation,
        }
    }

    /// Records one read sent to `failoverRegion`.
    pub fn failover(&self, service: &'static str) {
        self.failovers
            .get_or_create(&FailoverLabels { service })
            .inc();
    }

    /// Records one cache lookup.
    pub fn cache(&self, cache: &'static str, result: &'static str) {
        self.cache
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    /// Tracks a Mount in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

/// One AWS call being timed.
#[derive(Debug)]
pub struct AwsRequest {
    timer: AwsCall,
    metrics: Metrics,
    service: &'static str,
    operation: &'static str,
}

impl AwsRequest {
    /// The operation being timed (`GetObject`, `Decrypt`, …).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Records the call's outcome (`ok` or the failure's label) and its latency.
    pub fn finish(self, outcome: &'static str) {
        self.metrics.aws_call(self.service, self.operation, outcome);
        self.timer.finish(outcome);
    }
}

/// Decrements the in-flight gauge on drop (also when a Mount is cancelled).
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.mount_finished("ok", tonic::Code::Ok, 0.1);
        metrics.aws_request("s3", "GetObject").finish("ok");
        metrics.cache("plaintext", "hit");
        let _guard = metrics.in_flight();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for name in [
            "keywarden_provider_mounts_total",
            "keywarden_provider_mount_duration_seconds",
            "keywarden_provider_aws_calls_total",
            "keywarden_provider_aws_request_duration_seconds_count{service=\"s3\",operation=\"GetObject\",outcome=\"ok\"} 1",
            "keywarden_provider_cache_total{cache=\"plaintext\",result=\"hit\"} 1",
            "keywarden_provider_mounts_in_flight 1",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
