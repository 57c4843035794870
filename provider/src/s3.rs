//! Reading one S3 object into protected memory, with the size limit enforced while streaming.
//!
//! S3 server-side encryption (SSE-S3, SSE-KMS, DSSE-KMS) is undone by S3 for a caller allowed to
//! use the key, so such objects need nothing special here.

use aws_sdk_s3::error::DisplayErrorContext;

use crate::aws_error;
use crate::error::MountError;
use crate::metrics::Metrics;
use crate::secret_bytes::SecretBytes;

/// An object's bytes and the version that identifies them.
#[derive(Debug)]
pub struct Fetched {
    /// The object body.
    pub bytes: SecretBytes,
    /// S3 VersionId, else the ETag.
    pub version: String,
}

/// What to read.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    /// The object's label, for messages.
    pub label: &'a str,
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// Pinned VersionId.
    pub version: Option<&'a str>,
}

/// Reads an object, refusing bodies over `max_bytes` without reading them whole.
pub async fn get_object(
    client: &aws_sdk_s3::Client,
    object: ObjectRef<'_>,
    max_bytes: usize,
    metrics: &Metrics,
) -> Result<Fetched, MountError> {
    let result = client
        .get_object()
        .bucket(object.bucket)
        .key(object.key)
        .set_version_id(object.version.map(str::to_owned))
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let mapped = aws_error::classify(object.label, &err, status);
            metrics.aws_call("s3", "GetObject", mapped.label());
            tracing::warn!(object = object.label, error = %DisplayErrorContext(&err), "GetObject failed");
            return Err(mapped);
        }
    };
    let too_large = |size: String| {
        MountError::TooLarge(format!(
            "{}: object is {size} bytes, over the limit of {max_bytes} (--max-object-bytes)",
            object.label
        ))
    };
    let declared = output
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(len) = declared
        && len > max_bytes
    {
        metrics.aws_call("s3", "GetObject", "too_large");
        return Err(too_large(len.to_string()));
    }
    let version = output
        .version_id()
        .filter(|v| !v.is_empty() && *v != "null")
        .or(output.e_tag())
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();

    let mut body = output.body;
    let mut bytes = SecretBytes::with_capacity(declared.unwrap_or(0));
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    metrics.aws_call("s3", "GetObject", "too_large");
                    return Err(too_large(format!("more than {max_bytes}")));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => {
                metrics.aws_call("s3", "GetObject", "unavailable");
                tracing::warn!(object = object.label, error = %DisplayErrorContext(&err), "reading object body failed");
                return Err(MountError::Transient {
                    object: object.label.to_owned(),
                    reason: "object body interrupted".into(),
                });
            }
        }
    }
    metrics.aws_call("s3", "GetObject", "ok");
    Ok(Fetched { bytes, version })
}
