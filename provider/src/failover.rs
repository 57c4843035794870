//! Failover to `failoverRegion` (docs/reference.md §2.3, "Failover regions"): which failures
//! move a read there, how an object served there says so, and which key decrypts there.
//!
//! Every read that fails over runs with the same identity in the other region: the failover
//! region's clients are built from the same credentials as the Mount's (`mount.rs`).

use crate::error::MountError;
use crate::metrics::Metrics;

/// Whether a failure of the Mount's region sends the read to `failoverRegion`: only a fault
/// that persisted through the SDK's retries (throttling, 5xx, timeouts, broken connections),
/// never a refusal, a missing object, a disabled key or a validation error.
pub fn fails_over(err: &MountError) -> bool {
    matches!(err, MountError::Transient { .. })
}

/// The `ObjectVersion.version` of an object read or decrypted in `region` (the failover
/// region): its version there, then `@` and the region. The driver records it in the pod's
/// `SecretProviderClassPodStatus`, so the status shows which objects failed over; once the
/// Mount's region serves the object again, its version is plain again.
pub fn served_version(version: &str, region: &str) -> String {
    format!("{version}@{region}")
}

/// The label of an object's read in `region`, `objects[N] (NAME in failoverRegion REGION)`, so
/// that an error of the failover read says where it happened.
pub fn label(object: &str, region: &str) -> String {
    match object.strip_suffix(')') {
        Some(open) => format!("{open} in failoverRegion {region})"),
        None => format!("{object} in failoverRegion {region}"),
    }
}

/// Counts and logs one read sent to `region` for `object`.
pub fn note(metrics: &Metrics, service: &'static str, object: &str, region: &str) {
    metrics.failover(service);
    tracing::warn!(
        object,
        service,
        region,
        "the Mount's region failed; reading in failoverRegion"
    );
}

/// The ARN of `key`'s replica in `region`, when `key` is the ARN of a multi-Region key
/// (`arn:PARTITION:kms:REGION:ACCOUNT:key/mrk-…`): replicas share the key id and key
/// material, so a ciphertext made under one decrypts under any. `None` for any other key,
/// which exists in one region only.
pub fn replica_key_arn(key: &str, region: &str) -> Option<String> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    let ["arn", partition, "kms", _, account, resource] = parts[..] else {
        return None;
    };
    resource
        .strip_prefix("key/mrk-")
        .filter(|id| !id.is_empty())
        .map(|_| format!("arn:{partition}:kms:{region}:{account}:{resource}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_region_keys_have_replicas() {
        assert_eq!(
            replica_key_arn(
                "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd",
                "us-west-2"
            )
            .as_deref(),
            Some("arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd")
        );
        assert_eq!(
            replica_key_arn("arn:aws-cn:kms:cn-north-1:1:key/mrk-9", "cn-northwest-1").as_deref(),
            Some("arn:aws-cn:kms:cn-northwest-1:1:key/mrk-9")
        );
        for single_region in [
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/mrk-lookalike",
            "arn:aws:kms:us-east-1:111122223333:key/mrk-",
            "mrk-1234abcd",
            "arn:aws:s3:us-east-1:111122223333:key/mrk-1",
        ] {
            assert_eq!(
                replica_key_arn(single_region, "us-west-2"),
                None,
                "{single_region}"
            );
        }
    }

    #[test]
    fn failover_labels_name_the_region() {
        assert_eq!(
            label("objects[2] (s3://b/k)", "us-west-2"),
            "objects[2] (s3://b/k in failoverRegion us-west-2)"
        );
        assert_eq!(
            label("role r", "eu-west-1"),
            "role r in failoverRegion eu-west-1"
        );
    }

    #[test]
    fn only_regional_faults_fail_over() {
        use crate::catalogue;
        let transient = MountError::Transient {
            object: "o".into(),
            reason: catalogue::unexpected_not_modified(),
        };
        assert!(fails_over(&transient));
        assert!(!fails_over(&catalogue::key_disabled("o")));
        assert!(!fails_over(&MountError::NotFound {
            object: "o".into(),
            what: "object".into()
        }));
    }
}
