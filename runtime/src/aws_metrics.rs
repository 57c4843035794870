//! The one AWS call metric both binaries export: a latency histogram per service, operation
//! and outcome, registered under each binary's prefix
//! (`keywarden_provider_aws_request_duration_seconds`, `keywarden_kms_aws_request_duration_seconds`).
//!
//! Labels are constants and outcome labels; no resource name, key id or pod ever becomes one.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;

/// Buckets, in seconds: a few milliseconds for a warm KMS call up to a slow S3 read with
/// retries.
const BUCKETS: [f64; 14] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 100.0,
];

/// Labels of one AWS call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// `s3`, `kms`, `sts`.
    pub service: &'static str,
    /// `GetObject`, `Decrypt`, `DescribeKey`, …
    pub operation: &'static str,
    /// `ok`, or the failure's label.
    pub outcome: &'static str,
}

/// The AWS call latency family.
#[derive(Debug, Clone)]
pub struct AwsCalls {
    duration: Family<AwsCallLabels, Histogram>,
}

impl AwsCalls {
    /// Registers `aws_request_duration_seconds` in `registry` (a binary's prefixed
    /// sub-registry).
    pub fn register(registry: &mut Registry) -> Self {
        let duration: Family<AwsCallLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register_with_unit(
            "aws_request_duration",
            "AWS call latency, SDK retries included, by service, operation and outcome",
            Unit::Seconds,
            duration.clone(),
        );
        Self { duration }
    }

    /// Starts timing one call; [`AwsCall::finish`] records it.
    pub fn start(&self, service: &'static str, operation: &'static str) -> AwsCall {
        AwsCall {
            calls: self.clone(),
            service,
            operation,
            started: Instant::now(),
        }
    }

    /// Records a call that took `elapsed`.
    pub fn observe(
        &self,
        service: &'static str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.duration
            .get_or_create(&AwsCallLabels {
                service,
                operation,
                outcome,
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// One call being timed. Dropping it without [`finish`](Self::finish) records nothing (the
/// caller gave up; the cancelled request's own metrics say so).
#[derive(Debug)]
pub struct AwsCall {
    calls: AwsCalls,
    service: &'static str,
    operation: &'static str,
    started: Instant,
}

impl AwsCall {
    /// Records the call's outcome and the time since it started.
    pub fn finish(self, outcome: &'static str) {
        self.calls.observe(
            self.service,
            self.operation,
            outcome,
            self.started.elapsed(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_exported_with_latency() {
        let mut registry = Registry::default();
        let calls = AwsCalls::register(registry.sub_registry_with_prefix("keywarden_test"));
        calls.start("kms", "Decrypt").finish("ok");
        calls.observe("s3", "GetObject", "not_found", Duration::from_millis(30));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            "keywarden_test_aws_request_duration_seconds_count{service=\"kms\",operation=\"Decrypt\",outcome=\"ok\"} 1",
            "keywarden_test_aws_request_duration_seconds_bucket{le=\"0.05\",service=\"s3\",operation=\"GetObject\",outcome=\"not_found\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
