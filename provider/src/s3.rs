//! Reading one S3 object into protected memory, with the size limit enforced while streaming.
//!
//! S3 server-side encryption (SSE-S3, SSE-KMS, DSSE-KMS) is undone by S3 for a caller allowed to
//! use the key, so such objects need nothing special here.

use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::aws_error;
use crate::budget::{Charge, MountBudget};
use crate::catalogue;
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
    /// The ETag as S3 sent it, for a later `If-None-Match`.
    pub etag: Option<String>,
    /// The body's charge to the Mount's memory budget.
    pub charge: Charge,
}

/// Result of a (possibly conditional) read.
#[derive(Debug)]
pub enum GetOutcome {
    /// The object's current bytes.
    Modified(Fetched),
    /// `If-None-Match` matched: the cached copy is current (HTTP 304).
    NotModified,
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
    /// ETag of a cached copy: asks S3 for 304 if it is still current.
    pub if_none_match: Option<&'a str>,
}

/// Reads an object, refusing bodies over `max_bytes` without reading them whole. The body is
/// charged to `budget` before it is buffered: its declared length up front, anything beyond as
/// it arrives.
pub async fn get_object(
    client: &aws_sdk_s3::Client,
    object: ObjectRef<'_>,
    max_bytes: usize,
    budget: &MountBudget,
    metrics: &Metrics,
) -> Result<GetOutcome, MountError> {
    let call = metrics.aws_request("s3", "GetObject");
    let result = client
        .get_object()
        .bucket(object.bucket)
        .key(object.key)
        .set_version_id(object.version.map(str::to_owned))
        .set_if_none_match(object.if_none_match.map(str::to_owned))
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            if status == Some(304) && object.if_none_match.is_some() {
                call.finish("not_modified");
                return Ok(GetOutcome::NotModified);
            }
            let mapped = match err.as_service_error() {
                Some(GetObjectError::NoSuchKey(_)) => MountError::NotFound {
                    object: object.label.to_owned(),
                    what: "object".to_owned(),
                },
                _ => aws_error::classify(object.label, &err, status),
            };
            return Err(aws_error::failed(call, object.label, &err, status, mapped));
        }
    };
    let too_large = |size: String| catalogue::object_too_large(object.label, size, max_bytes);
    let declared = output
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(len) = declared
        && len > max_bytes
    {
        call.finish("too_large");
        return Err(too_large(len.to_string()));
    }
    let etag = output.e_tag().map(str::to_owned);
    let version = object_version(&output);

    let mut body = output.body;
    let mut charge = budget.hold(declared.unwrap_or(0), object.label)?;
    let mut bytes = SecretBytes::with_capacity(declared.unwrap_or(0));
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    call.finish("too_large");
                    return Err(too_large(catalogue::more_than(max_bytes)));
                }
                let beyond = (bytes.len() + chunk.len()).saturating_sub(declared.unwrap_or(0));
                let already = bytes.len().saturating_sub(declared.unwrap_or(0));
                budget.grow(&mut charge, beyond - already, object.label)?;
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => {
                call.finish("unavailable");
                tracing::warn!(object = object.label, error = %err, "reading object body failed");
                return Err(MountError::Transient {
                    object: object.label.to_owned(),
                    reason: catalogue::body_interrupted(),
                });
            }
        }
    }
    call.finish("ok");
    Ok(GetOutcome::Modified(Fetched {
        bytes,
        version,
        etag,
        charge,
    }))
}

/// The version reported to the driver, which lands in `SecretProviderClassPodStatus` where
/// anyone who may read that resource sees it, so it must not let the plaintext be tested:
///
/// - the S3 VersionId when the bucket is versioned (random);
/// - else the ETag, when it cannot be the MD5 of the plaintext: a multipart ETag (`…-N`) or an
///   SSE-KMS / DSSE-KMS object, whose ETag is not an MD5 of its content;
/// - else (unencrypted or SSE-S3, single part: the ETag *is* the MD5 of the bytes, and a short
///   password falls to a dictionary) `modified-<LastModified, Unix seconds>-<size>`, which
///   changes on every write that S3 can tell apart and is the same on every node.
///
/// The ETag itself still drives `If-None-Match`; only the reported version changes.
fn object_version(output: &aws_sdk_s3::operation::get_object::GetObjectOutput) -> String {
    if let Some(id) = output
        .version_id()
        .filter(|v| !v.is_empty() && *v != "null")
    {
        return id.to_owned();
    }
    let etag = output.e_tag().map(|e| e.trim_matches('"'));
    let kms_encrypted = output.server_side_encryption().is_some_and(|sse| {
        matches!(
            sse,
            ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse
        )
    });
    match etag {
        Some(etag) if etag.contains('-') || kms_encrypted => etag.to_owned(),
        _ => format!(
            "modified-{}-{}",
            output.last_modified().map_or(0, |t| t.secs()),
            output.content_length().unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::Client;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use prometheus_client::registry::Registry;
    use tonic::Code;

    const OBJECT: ObjectRef<'static> = ObjectRef {
        label: "objects[0] (s3://b/k)",
        bucket: "b",
        key: "k",
        version: None,
        if_none_match: None,
    };

    fn fetched(outcome: GetOutcome) -> Fetched {
        match outcome {
            GetOutcome::Modified(f) => f,
            GetOutcome::NotModified => panic!("unexpected 304"),
        }
    }

    fn budget() -> MountBudget {
        crate::budget::NodeBudget::new(1 << 30).mount(usize::MAX)
    }

    fn metrics() -> Metrics {
        Metrics::register(&mut Registry::default())
    }

    #[tokio::test]
    async fn reads_body_and_prefers_version_id_over_etag() {
        let rule = mock!(Client::get_object)
            .match_requests(|r| {
                r.bucket() == Some("b") && r.key() == Some("k") && r.version_id() == Some("v1")
            })
            .then_output(|| {
                GetObjectOutput::builder()
                    .body(ByteStream::from_static(b"hunter2"))
                    .version_id("v1")
                    .e_tag("\"abc\"")
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let pinned = ObjectRef {
            version: Some("v1"),
            ..OBJECT
        };
        let fetched = fetched(
            get_object(&client, pinned, 1024, &budget(), &metrics())
                .await
                .expect("fetched"),
        );
        assert_eq!(fetched.bytes.as_slice(), b"hunter2");
        assert_eq!(fetched.version, "v1");
    }

    #[tokio::test]
    async fn unversioned_objects_never_report_a_plaintext_md5() {
        use aws_sdk_s3::primitives::DateTime;
        let md5 = "\"9dd4e461268c8034f5c8564e155c67a6\""; // MD5("x"): testable by anyone
        let cases = [
            (None, md5, "modified-1700000000-1"),
            (
                Some(ServerSideEncryption::Aes256),
                md5,
                "modified-1700000000-1",
            ),
            (
                Some(ServerSideEncryption::AwsKms),
                "\"0f343b0931126a20f133d67c2b018a3b\"",
                "0f343b0931126a20f133d67c2b018a3b",
            ),
            (
                None,
                "\"d41d8cd98f00b204e9800998ecf8427e-2\"",
                "d41d8cd98f00b204e9800998ecf8427e-2",
            ),
        ];
        for (sse, etag, want) in cases {
            let label = format!("{sse:?} {etag}");
            let rule = mock!(Client::get_object).then_output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from_static(b"x"))
                    .version_id("null")
                    .e_tag(etag)
                    .set_server_side_encryption(sse.clone())
                    .last_modified(DateTime::from_secs(1_700_000_000))
                    .content_length(1)
                    .build()
            });
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
            let fetched = fetched(
                get_object(&client, OBJECT, 1024, &budget(), &metrics())
                    .await
                    .expect("fetched"),
            );
            assert_eq!(fetched.version, want, "{label}");
            assert_eq!(
                fetched.etag.as_deref(),
                Some(etag),
                "If-None-Match keeps the ETag"
            );
        }
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused_while_streaming() {
        // No Content-Length: the limit must hold while reading the stream.
        let rule = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from(vec![7u8; 4096]))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let err = get_object(&client, OBJECT, 100, &budget(), &metrics())
            .await
            .expect_err("too large");
        assert_eq!(err.grpc_code(), Code::ResourceExhausted);
        assert!(err.to_string().contains("--max-object-bytes"), "{err}");

        let declared = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .content_length(1 << 30)
                .body(ByteStream::from_static(b""))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&declared]);
        let err = get_object(&client, OBJECT, 100, &budget(), &metrics())
            .await
            .expect_err("declared too large");
        assert!(err.to_string().contains("1073741824 bytes"), "{err}");
    }

    #[tokio::test]
    async fn matching_etag_is_not_modified() {
        let rule = mock!(Client::get_object)
            .match_requests(|r| r.if_none_match() == Some("\"e1\""))
            .then_http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(304).expect("status"),
                    aws_smithy_types::body::SdkBody::empty(),
                )
            });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let conditional = ObjectRef {
            if_none_match: Some("\"e1\""),
            ..OBJECT
        };
        let outcome = get_object(&client, conditional, 1024, &budget(), &metrics())
            .await
            .expect("304");
        assert!(matches!(outcome, GetOutcome::NotModified), "{outcome:?}");
    }

    #[tokio::test]
    async fn missing_key_is_not_found() {
        let rule = mock!(Client::get_object)
            .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let err = get_object(&client, OBJECT, 100, &budget(), &metrics())
            .await
            .expect_err("missing");
        assert_eq!(err.grpc_code(), Code::NotFound);
        assert_eq!(err.to_string(), "objects[0] (s3://b/k): object not found");
    }

    #[tokio::test]
    async fn server_errors_are_transient() {
        let rule = mock!(Client::get_object).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(503).expect("status"),
                aws_smithy_types::body::SdkBody::from("<Error><Code>SlowDown</Code></Error>"),
            )
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let err = get_object(&client, OBJECT, 100, &budget(), &metrics())
            .await
            .expect_err("503");
        assert_eq!(err.grpc_code(), Code::Unavailable, "{err}");
    }
}
