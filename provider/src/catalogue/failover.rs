//! Messages about failover regions: the class parameter `failoverRegion` and the objects'
//! `failoverObject` (docs/reference.md §2.3, "Failover regions").

use super::InvalidArgument;

keywarden_runtime::catalogue! {
    "Failover regions",
    "`failoverRegion` or an object's `failoverObject` breaks a rule. These are checked before \
     any AWS call; a failover itself reports the error of the read that failed.";

    /// `failoverObject` names what to read in `failoverRegion` when the Mount's region fails:
    /// a secret or parameter (`{objectName: ...}`), or for an S3 object the replica
    /// `s3://bucket/key`. Inline ciphertext needs none (its `Decrypt` fails over to the
    /// multi-Region key's replica by itself), and a prefix entry does not fail over.
    InvalidArgument fn failover_not_by_name(label: &str) =
        "{label}: failoverObject applies only to secretsmanager, ssmparameter and single S3 objects";
    /// As in the AWS provider, a secret or parameter with `failoverObject` names its file with
    /// `objectAlias`, so both regions write the same file: add one.
    InvalidArgument fn failover_needs_alias(label: &str) =
        "{label}: failoverObject needs objectAlias on the object";
    /// The failover must be the same kind of object (an ARN of the other type, or an S3 URL
    /// for a secret, is refused) and, when the object pins `objectVersion`, pin the same
    /// version (replicas keep version ids); an S3 replica takes no `objectVersionLabel`.
    InvalidArgument fn failover_differs(label: &str) =
        "{label}: failoverObject must be of the same type and objectVersion as the object";
    /// An S3 object's `failoverObject` is its replica, `s3://bucket/key` (or
    /// `{objectName: s3://bucket/key}`), one object and not a prefix.
    InvalidArgument fn bad_failover_replica(label: &str, reason: String) =
        "{label}: failoverObject: {reason}";
    /// `failoverObject` is read in `failoverRegion`: set the class parameter, or remove
    /// `failoverObject`.
    InvalidArgument fn failover_needs_region(label: &str) =
        "{label}: failoverObject needs the class parameter failoverRegion";
    /// `failoverRegion` must look like `us-west-2`.
    InvalidArgument fn bad_failover_region(region_q: &str) =
        "parameter failoverRegion {region_q} is not an AWS region name";
    /// Failover reads a second region: name one other than the Mount's (`region`, else
    /// `--region`).
    InvalidArgument fn failover_region_same(region_q: &str) =
        "parameter failoverRegion {region_q} is the Mount's own region";
    /// An S3 bucket lives in one region, so the same object cannot be read in
    /// `failoverRegion`: add `failoverObject: s3://REPLICA-BUCKET/KEY` (a bucket in
    /// `failoverRegion`, for example the destination of S3 replication), or put the object in
    /// a class without `failoverRegion`.
    InvalidArgument fn failover_s3_needs_replica(label: &str) =
        "{label}: an S3 bucket is in one region, so failoverRegion needs a failoverObject s3:// replica for it";
    /// A prefix entry is listed and read in the Mount's region only: put it in a class
    /// without `failoverRegion`, or name its objects one by one, each with its replica.
    InvalidArgument fn failover_prefix(label: &str) =
        "{label}: a prefix entry does not fail over; remove failoverRegion or name the objects one by one";
    /// An ARN names one region, so the same ARN cannot be read in `failoverRegion`: add
    /// `failoverObject` with the replica's name or ARN.
    InvalidArgument fn failover_arn_needs_object(label: &str) =
        "{label}: objectName is an ARN, so failoverRegion needs a failoverObject for it";
}
