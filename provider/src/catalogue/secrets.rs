//! Messages about `secretsmanager` and `ssmparameter` objects and the AWS-provider parameters
//! that shape them (`pathTranslation`, ARNs, versions and labels).

use super::{InvalidArgument, Precondition, TooLarge};

keywarden_runtime::catalogue! {
    "Secrets Manager and Parameter Store",
    "A `secretsmanager` or `ssmparameter` object, or a class parameter the AWS provider defined \
     for them, breaks a rule.";

    /// `objectName` starts with `arn:` but is not the ARN of a Secrets Manager secret
    /// (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`) or an SSM parameter
    /// (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`). Copy the ARN from the console or
    /// `aws secretsmanager describe-secret`, or give the name and `objectType`.
    InvalidArgument fn bad_arn(label: &str, name_q: &str) =
        "{label}: objectName {name_q} is not a Secrets Manager secret or SSM parameter ARN";
    /// The ARN in `objectName` already says what the object is: remove `objectType`, or set
    /// it to the type of the ARN (`ssm` ARNs are `ssmparameter`).
    InvalidArgument fn arn_type_mismatch(label: &str, object_type: &str, arn_type: &str) =
        "{label}: objectType {object_type} does not match the {arn_type} ARN in objectName";
    /// Secrets Manager names are 1 to 512 bytes of letters, digits and `/_+=.@-`.
    InvalidArgument fn bad_secret_name(label: &str, name_q: &str, limit: usize) =
        "{label}: objectName {name_q} is not a secret name (1 to {limit} bytes of letters, digits and /_+=.@-)";
    /// Parameter names are 1 to 2048 bytes of letters, digits and `/_.-`.
    InvalidArgument fn bad_parameter_name(label: &str, name_q: &str, limit: usize) =
        "{label}: objectName {name_q} is not a parameter name (1 to {limit} bytes of letters, digits and /_.-)";
    /// A Secrets Manager `objectVersion` is a version id (`aws secretsmanager
    /// list-secret-version-ids`): 1 to 64 letters, digits and `-`.
    InvalidArgument fn bad_secret_version(label: &str, version_q: &str) =
        "{label}: objectVersion {version_q} is not a Secrets Manager version id";
    /// An `ssmparameter` `objectVersion` is the parameter's version number, such as `"3"`.
    InvalidArgument fn bad_parameter_version(label: &str, version_q: &str) =
        "{label}: objectVersion {version_q} is not a parameter version number";
    /// A Secrets Manager staging label (`AWSCURRENT`, `AWSPREVIOUS`, your own) or a
    /// parameter label: letters, digits and `_.-`, up to 256 bytes (100 for parameters).
    InvalidArgument fn bad_version_label(label: &str, value_q: &str, limit: usize) =
        "{label}: objectVersionLabel {value_q} must be 1 to {limit} bytes of letters, digits and _.-";
    /// Parameter Store reads one selector per name: keep either the version or the label.
    InvalidArgument fn parameter_version_and_label(label: &str) =
        "{label}: objectVersion and objectVersionLabel cannot both be set on an ssmparameter";
    /// S3, KMS and sealed objects have no labels: remove `objectVersionLabel` (S3 objects pin a
    /// version with `objectVersion`).
    InvalidArgument fn label_not_managed(label: &str) =
        "{label}: objectVersionLabel applies only to secretsmanager and ssmparameter objects";
    /// `pathTranslation` is `False` (any case: names keep their `/` as directories) or one
    /// character that replaces `/` in file names (default `_`).
    InvalidArgument fn bad_path_translation(value_q: &str) =
        "parameter pathTranslation {value_q} must be False or a single character";
    /// A secret or parameter is read in the Mount's region (the class's `region`, else
    /// `--region`): set `region` to the ARN's region, or use the ARN of the replica in the
    /// Mount's region.
    InvalidArgument fn arn_region_mismatch(label: &str, arn_region_q: &str, region_q: &str) =
        "{label}: the ARN in objectName is in region {arn_region_q}, but the Mount reads region {region_q}";
    /// The service answered with a value larger than it stores (64 KiB for a secret, 8 KiB for
    /// an advanced parameter): the endpoint is not Secrets Manager or Parameter Store. Check
    /// `--endpoint-url` and the proxies on the way.
    TooLarge fn managed_value_too_large(label: &str, size: usize, limit: usize) =
        "{label}: value is {size} bytes, over the {limit} bytes the service stores";
    /// The secret version has neither `SecretString` nor `SecretBinary` (a secret created
    /// without a value): put a value with `aws secretsmanager put-secret-value`.
    Precondition fn secret_has_no_value(label: &str) = "{label}: the secret version has no value";
}
