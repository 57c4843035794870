//! Messages about the Mount request and the SecretProviderClass's top-level parameters.

use super::{InvalidArgument, Part};

keywarden_runtime::catalogue! {
    "The request and the top-level parameters",
    "Nothing was fetched: the SecretProviderClass (or the driver's request) must change.";

    /// A bound on what one SecretProviderClass may ask for (README, "Bounds"): `attributes`
    /// (all parameters plus the pod's information and tokens) and `objects` are measured
    /// before they are parsed. Split the objects over several SecretProviderClasses.
    Part fn over_limit(what: &str, n: usize, limit: usize, name: &str) =
        "{what} is {n} bytes, over the limit of {limit} ({name})";
    /// Returned with the part above, naming `attributes` or `parameter objects`.
    InvalidArgument fn too_big(over: String) = "{over}";
    /// A `parameters` value that is not a string: YAML turned `true`, `0400` or a number into
    /// a non-string. Quote every value in `parameters`.
    InvalidArgument fn attributes_not_strings(line: usize, column: usize) =
        "attributes are not a JSON object of strings (line {line}, column {column})";
    /// The driver's `permission` field is malformed: a driver bug or a non-standard client.
    InvalidArgument fn bad_permission(permission_q: &str) =
        "permission {permission_q} is not a decimal file mode between 0 and 511";
    /// A misspelt or unknown top-level parameter (keys are case-sensitive). Fix the name; the
    /// Mount never runs with a parameter it does not understand. HINT is
    /// `; did you mean "roleArn"?` for a near miss.
    InvalidArgument fn unknown_parameter(key_q: &str, hint: String) =
        "parameter {key_q} is not a Keywarden parameter (objects, region, identity, roleArn){hint}";
    /// HINT of the entry above, for a key that is the same ignoring case or one or two edits
    /// away from a known one.
    Part fn did_you_mean(name: &&str) = "; did you mean {name:?}?";
    /// Spelling: `podIdentity` is camel case.
    InvalidArgument fn bad_identity(identity_q: &str) =
        "parameter identity {identity_q} is not one of irsa, podIdentity, node";
    /// `region` must look like `eu-west-1`.
    InvalidArgument fn bad_region(region_q: &str) =
        "parameter region {region_q} is not an AWS region name";
    /// `roleArn` must be `arn:aws:iam::ACCOUNT:role/NAME` (any partition).
    InvalidArgument fn bad_role_arn(arn_q: &str) =
        "parameter roleArn {arn_q} is not an IAM role ARN";
    /// `usePodIdentity` (from the AWS provider) is `"true"` or `"false"`.
    InvalidArgument fn bad_use_pod_identity(value_q: &str) =
        "parameter usePodIdentity {value_q} is not \"true\" or \"false\"";
    /// `usePodIdentity: "true"` means `identity: podIdentity`; keep one of the two.
    InvalidArgument fn identity_disagrees(identity: &str) =
        "parameters identity {identity:?} and usePodIdentity \"true\" disagree; keep one";
    /// No `objects` parameter, or it is empty.
    InvalidArgument fn objects_missing() =
        "parameter objects is missing; list the objects to mount";
    /// `objects` is not a YAML list of mappings, or a key is unknown or misspelt (keys are
    /// case-sensitive: `objectAlias`, not `ObjectAlias`); REASON names the key or the rule and
    /// the line. `objects` must be a block string (`objects: |`).
    InvalidArgument fn objects_not_specs(reason: String) =
        "parameter objects is not a valid list of object specs: {reason}";
    /// `objects: "[]"`.
    InvalidArgument fn objects_empty() =
        "parameter objects lists no objects; at least one is required";
    /// More objects than one SecretProviderClass may list: split it.
    InvalidArgument fn too_many_objects(count: usize, limit: usize) =
        "parameter objects lists {count} objects, over the limit of {limit} (MAX_OBJECTS)";
    /// More `jmesPath` entries over all objects than one SecretProviderClass may have: split it.
    InvalidArgument fn too_many_jmes_paths(count: usize, limit: usize) =
        "parameter objects has {count} jmesPath entries, over the limit of {limit} (MAX_JMESPATH_ENTRIES)";
    /// The driver's `target_path` (used with `--write-mode provider`) is relative or not
    /// clean: a driver bug or a non-standard client.
    InvalidArgument fn bad_target_path(target_q: &str) =
        "target_path {target_q} must be an absolute, clean path";
}
