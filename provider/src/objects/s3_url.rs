//! S3 object names: `s3://bucket/key` parsed under S3's bucket and key rules, and a prefix
//! entry (`s3://bucket/prefix/`) turned into its source and default directory.

use crate::catalogue;
use crate::error::MountError;
use crate::limits;

use super::Source;

/// Parses `s3://bucket/key` into its parts.
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| catalogue::not_s3_url(&limits::quote(url)))?;
    let (bucket, key) = rest
        .split_once('/')
        .ok_or_else(|| catalogue::no_key(&limits::quote(url)))?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !bucket_ok {
        return Err(catalogue::bad_bucket(
            &limits::quote(url),
            &limits::quote(bucket),
        ));
    }
    if key.is_empty() || key.len() > 1024 {
        return Err(catalogue::bad_key_length(&limits::quote(url)));
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// The source of a prefix entry (`key` ends in `/`) and its default directory: the prefix's
/// last segment, as a single object's default alias is its key's last segment. What only
/// applies to one object is refused here, before any AWS call.
pub(super) fn prefix_source(
    label: &str,
    bucket: String,
    key: String,
    object_version: Option<&str>,
    jmes_path: bool,
) -> Result<(Source, String), MountError> {
    if object_version.is_some_and(|v| !v.is_empty()) {
        return Err(catalogue::prefix_version(label));
    }
    if jmes_path {
        return Err(catalogue::prefix_jmes_path(label));
    }
    let default_alias = key
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((
        Source::S3Prefix {
            bucket,
            prefix: key,
        },
        default_alias,
    ))
}
