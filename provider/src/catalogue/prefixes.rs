//! Messages about S3 prefix entries (`objectName: s3://bucket/prefix/`): what a prefix may not
//! have, the keys its listing returns, and the bounds on what it may list.

use super::{InvalidArgument, Part, TooLarge};

keywarden_runtime::catalogue! {
    "S3 prefixes",
    "An `objectName` ending in `/` mounts every object under the prefix (README, \"S3 \
     prefixes\"). Its members are labelled `objects[N] (s3://B/P/) key \"K\"`.";

    /// A prefix mounts whatever is under it now; pin versions by naming the objects one by one,
    /// without the trailing `/`.
    InvalidArgument fn prefix_version(label: &str) =
        "{label}: objectVersion does not apply to a prefix (objectName ends in '/')";
    /// Extraction needs to know which object holds which fields: add those objects as their
    /// own entries (without the trailing `/`) with `jmesPath`, beside the prefix or instead of
    /// it.
    InvalidArgument fn prefix_jmes_path(label: &str) =
        "{label}: jmesPath does not apply to a prefix (objectName ends in '/'); list the objects whose fields you need as single objects";
    /// An object under the prefix has a key that, relative to the prefix and joined to the
    /// entry's directory, breaks the path rules (REASON, see "File paths"). Nothing was
    /// fetched. Rename the object, or mount a narrower prefix.
    InvalidArgument fn prefix_key_unusable(label: &str, key_q: &str, reason: String) =
        "{label}: key {key_q} under the prefix cannot be a file in the mount: {reason}";
    /// The label of a prefix member, used as OWNER and OBJECT in the other messages.
    Part fn prefix_member(label: &str, key_q: &str) = "{label} key {key_q}";
    /// Never expected: a prefix entry reached the single-object fetch without being listed
    /// first. Report it with the provider's version and the SecretProviderClass.
    InvalidArgument fn prefix_not_listed(label: &str) =
        "{label}: a prefix entry cannot be fetched as one object";
    /// The S3 endpoint answered ListObjectsV2 with a key outside the prefix asked for; S3 does
    /// not do that: check `AWS_ENDPOINT_URL` and any proxy in between.
    InvalidArgument fn key_outside_prefix(label: &str, key_q: &str) =
        "{label}: S3 listed key {key_q}, which is not under the prefix";
    /// The prefixes of one Mount list more objects together than `--max-prefix-objects`
    /// (chart `maxPrefixObjects`, default 256); nothing was fetched. Mount a narrower prefix,
    /// split the volume, or raise the cap. EARLIER is `; earlier prefixes of the mount took K`
    /// when other prefix entries came first.
    TooLarge fn prefix_over_cap(label: &str, cap: usize, earlier: String) =
        "{label}: the prefix holds more objects than the limit of {cap} per mount (--max-prefix-objects){earlier}";
    /// EARLIER of the entry above.
    Part fn taken_earlier(used: usize) = "; earlier prefixes of the mount took {used}";
    /// Keys ending in `/` (directory markers, the S3 console's "folders") are skipped, but at
    /// most 1,000 per prefix. Delete the empty markers, or mount a narrower prefix.
    TooLarge fn too_many_markers(label: &str, limit: usize) =
        "{label}: the prefix holds more than {limit} keys ending in '/' (MAX_PREFIX_MARKERS)";
    /// The listing reports an object over the per-object limit; refused before anything is
    /// fetched. Raise `maxObjectBytes`, or shrink the object.
    TooLarge fn listed_object_too_large(label: &str, key_q: &str, size: usize, limit: usize) =
        "{label}: key {key_q} is {size} bytes, over the limit of {limit} (--max-object-bytes)";
    /// The objects of an `objectType: s3` prefix (written as stored) add up to more than one
    /// Mount may return; refused while listing. Mount a narrower prefix or split the volume.
    TooLarge fn listed_objects_too_large(label: &str, total: usize, limit: usize) =
        "{label}: the objects listed under the prefix reach {total} bytes, over the limit of {limit} (--max-response-bytes)";
    /// REASON of an `UNAVAILABLE` error: the endpoint said a listing page was incomplete but
    /// gave no token for the next one, or no key in it; S3 does not do that. The driver
    /// retries.
    Part fn listing_stuck() = "ListObjectsV2 was truncated without a continuation token or keys";
    /// WHAT of a `NOT_FOUND` error: ListObjectsV2 found no object under the prefix (directory
    /// markers do not count): check the prefix, its trailing `/`, the bucket and the region.
    Part fn nothing_under_prefix() = "object under the prefix";
}
