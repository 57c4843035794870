//! A local AWS endpoint that answers in microseconds, so that the provider's own cost shows in
//! the latency and throughput figures (moto spends milliseconds per call and serializes them).
//! moto stays the endpoint of the call-count figures and of the e2e suite: this one speaks only
//! the calls a Mount makes, on the wire protocols the AWS SDK for Rust uses for them:
//!
//! - S3 `GetObject`, REST-XML, path-style: body, quoted `ETag`, `x-amz-version-id`,
//!   `?versionId=` for an older version, `If-None-Match` answered `304 Not Modified`;
//! - KMS `Decrypt` and `GenerateDataKey`, AWS JSON 1.1 (`X-Amz-Target: TrentService.*`): a
//!   ciphertext blob is an opaque handle the endpoint registered (seeded, or made by
//!   `GenerateDataKey`); `Decrypt` checks the encryption context it was registered with;
//! - STS `AssumeRoleWithWebIdentity`, query protocol with an XML answer.
//!
//! Signatures are not checked. Every request is counted per (service, operation), and 304s and
//! conditional GETs apart; `GET /_fast/counts` returns the counters, `POST /_fast/seed` adds
//! objects and ciphertexts (JSON), `GET /_fast/ready` answers once listening. The process
//! prints `{"url": …}` on stdout when it listens and serves until SIGTERM.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Largest request body read (seeding included).
const MAX_BODY: usize = 64 << 20;
const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/fast-endpoint";

/// What the endpoint counts, in the order of [`COUNTERS`].
#[derive(Debug, Clone, Copy)]
enum Op {
    S3Get,
    S3GetConditional,
    S3Get304,
    S3Other,
    KmsDecrypt,
    KmsGenerateDataKey,
    KmsOther,
    Sts,
    Other,
}

/// Names of the counters in `GET /_fast/counts`.
const COUNTERS: [&str; 9] = [
    "s3:GetObject",
    "s3:GetObject:conditional",
    "s3:GetObject:304",
    "s3:other",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:other",
    "sts:AssumeRoleWithWebIdentity",
    "other",
];

/// One stored version of an object.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    etag: String,
    body: Bytes,
}

/// A registered ciphertext.
#[derive(Debug, Clone)]
struct Sealed {
    plaintext: Bytes,
    context: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    /// How long every AWS answer is held before it is sent (`--delay-ms`).
    delay: std::time::Duration,
    objects: RwLock<HashMap<(String, String), Vec<Version>>>,
    ciphertexts: RwLock<HashMap<Vec<u8>, Sealed>>,
    counts: [AtomicU64; COUNTERS.len()],
    sequence: AtomicU64,
}

impl State {
    fn count(&self, op: Op) {
        self.counts[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn next(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }
}

/// `POST /_fast/seed`.
#[derive(Debug, Deserialize)]
struct Seed {
    #[serde(default)]
    objects: Vec<SeedObject>,
    #[serde(default)]
    ciphertexts: Vec<SeedCiphertext>,
}

#[derive(Debug, Deserialize)]
struct SeedObject {
    bucket: String,
    key: String,
    body_b64: String,
}

#[derive(Debug, Deserialize)]
struct SeedCiphertext {
    blob_b64: String,
    plaintext_b64: String,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

/// Answer of a seed: the version id given to each object, in order.
#[derive(Debug, Serialize)]
struct Seeded {
    versions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KmsRequest {
    #[serde(default)]
    ciphertext_blob: Option<String>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    #[serde(default)]
    number_of_bytes: Option<usize>,
}

/// Serves on `addr` until SIGTERM or SIGINT.
pub async fn serve(addr: &str, delay: std::time::Duration) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    crate::emit(&serde_json::json!({ "url": url }))?;
    let state = Arc::new(State {
        delay,
        ..State::default()
    });
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let state = state.clone();
        async move { route(&state, request).await }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            keywarden_runtime::shutdown::signal_received().await;
        })
        .await
        .context("serving the fast endpoint")
}

async fn route(state: &State, request: Request<Body>) -> Response<Body> {
    let control = request.uri().path().starts_with("/_fast/");
    let response = answer(state, request).await;
    // The network and service time of AWS, if asked for: a wait, not work, so it costs the
    // machine no CPU and every answer in flight waits at once.
    if !control && !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    response
}

async fn answer(state: &State, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let path = parts.uri.path();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    match (&parts.method, path, target) {
        (&Method::GET, "/_fast/ready", _) => plain(StatusCode::OK, "ok"),
        (&Method::GET, "/_fast/counts", _) => counts(state),
        (&Method::POST, "/_fast/seed", _) => seed(state, &body),
        (&Method::POST, _, Some(target)) if target.starts_with("TrentService.") => {
            kms(state, &target["TrentService.".len()..], &body)
        }
        (&Method::POST, "/", None) if form_value(&body, "Action").is_some() => sts(state, &body),
        (&Method::GET, _, None) => get_object(state, path, parts.uri.query(), &parts.headers),
        // Anything else is counted (the figures' totals include it) and refused by name, so a
        // provider that sends an unexpected call shows up in the report instead of passing.
        _ => {
            state.count(Op::Other);
            plain(
                StatusCode::BAD_REQUEST,
                "the bench endpoint serves S3 GetObject, KMS Decrypt and GenerateDataKey, and STS \
                 AssumeRoleWithWebIdentity only; this request is none of them",
            )
        }
    }
}

fn counts(state: &State) -> Response<Body> {
    let map: BTreeMap<&str, u64> = COUNTERS
        .iter()
        .zip(&state.counts)
        .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
        .collect();
    json(StatusCode::OK, &map)
}

fn seed(state: &State, body: &[u8]) -> Response<Body> {
    let seed: Seed = match serde_json::from_slice(body) {
        Ok(seed) => seed,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("not a seed: {e}")),
    };
    let mut versions = Vec::with_capacity(seed.objects.len());
    for object in seed.objects {
        let Ok(bytes) = BASE64.decode(&object.body_b64) else {
            return plain(StatusCode::BAD_REQUEST, "body_b64 is not base64");
        };
        let n = state.next();
        let version = Version {
            id: format!("v{n:016x}"),
            etag: format!("\"{n:032x}\""),
            body: Bytes::from(bytes),
        };
        versions.push(version.id.clone());
        let mut objects = state.objects.write().unwrap_or_else(|e| e.into_inner());
        objects
            .entry((object.bucket, object.key))
            .or_default()
            .push(version);
    }
    let mut ciphertexts = state.ciphertexts.write().unwrap_or_else(|e| e.into_inner());
    for c in seed.ciphertexts {
        let (Ok(blob), Ok(plaintext)) =
            (BASE64.decode(&c.blob_b64), BASE64.decode(&c.plaintext_b64))
        else {
            return plain(
                StatusCode::BAD_REQUEST,
                "blob_b64 or plaintext_b64 is not base64",
            );
        };
        ciphertexts.insert(
            blob,
            Sealed {
                plaintext: Bytes::from(plaintext),
                context: c.context,
            },
        );
    }
    json(StatusCode::OK, &Seeded { versions })
}

fn get_object(
    state: &State,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let Some((bucket, key)) = path.trim_start_matches('/').split_once('/') else {
        state.count(Op::S3Other);
        return s3_error(StatusCode::NOT_IMPLEMENTED, "NotImplemented");
    };
    state.count(Op::S3Get);
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some() {
        state.count(Op::S3GetConditional);
    }
    let wanted = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("versionId="));
    let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
    let Some(versions) = objects.get(&(percent_decode(bucket), percent_decode(key))) else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey");
    };
    let found = match wanted {
        Some(id) => versions.iter().find(|v| v.id == id),
        None => versions.last(),
    };
    let Some(version) = found else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchVersion");
    };
    let builder = Response::builder()
        .header(header::ETAG, &version.etag)
        .header("x-amz-version-id", &version.id)
        .header(header::LAST_MODIFIED, "Wed, 25 Nov 2026 00:00:00 GMT");
    let response = if if_none_match == Some(version.etag.as_str()) {
        state.count(Op::S3Get304);
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, version.body.len())
            .body(Body::from(version.body.clone()))
    };
    response.unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

fn kms(state: &State, operation: &str, body: &[u8]) -> Response<Body> {
    let request: KmsRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) => return kms_error("SerializationException", "not a KMS request"),
    };
    match operation {
        "Decrypt" => {
            state.count(Op::KmsDecrypt);
            let blob = request
                .ciphertext_blob
                .and_then(|b| BASE64.decode(b).ok())
                .unwrap_or_default();
            let ciphertexts = state.ciphertexts.read().unwrap_or_else(|e| e.into_inner());
            match ciphertexts.get(&blob) {
                Some(sealed) if sealed.context == request.encryption_context => json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "KeyId": KEY_ARN,
                        "Plaintext": BASE64.encode(&sealed.plaintext),
                        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    }),
                ),
                _ => kms_error("InvalidCiphertextException", ""),
            }
        }
        "GenerateDataKey" => {
            state.count(Op::KmsGenerateDataKey);
            let n = state.next();
            let mut plaintext = vec![0u8; request.number_of_bytes.unwrap_or(32).min(1024)];
            if aws_lc_rs::rand::fill(&mut plaintext).is_err() {
                return kms_error("KMSInternalException", "no randomness");
            }
            let blob = format!("fast-edk-{n:016x}").into_bytes();
            let answer = serde_json::json!({
                "KeyId": KEY_ARN,
                "Plaintext": BASE64.encode(&plaintext),
                "CiphertextBlob": BASE64.encode(&blob),
            });
            state
                .ciphertexts
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    blob,
                    Sealed {
                        plaintext: Bytes::from(plaintext),
                        context: request.encryption_context,
                    },
                );
            json(StatusCode::OK, &answer)
        }
        _ => {
            state.count(Op::KmsOther);
            kms_error("UnsupportedOperationException", operation)
        }
    }
}

fn sts(state: &State, body: &[u8]) -> Response<Body> {
    state.count(Op::Sts);
    if form_value(body, "Action").as_deref() != Some("AssumeRoleWithWebIdentity") {
        return plain(StatusCode::BAD_REQUEST, "unsupported STS action");
    }
    let role = form_value(body, "RoleArn").unwrap_or_default();
    let session = form_value(body, "RoleSessionName").unwrap_or_default();
    let n = state.next();
    let xml = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleWithWebIdentityResult><Credentials>\
         <AccessKeyId>ASIAFAST{n:012X}</AccessKeyId><SecretAccessKey>fast-secret</SecretAccessKey>\
         <SessionToken>fast-session-{n}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
         </Credentials><AssumedRoleUser><Arn>{role}/{session}</Arn>\
         <AssumedRoleId>AROAFAST:{session}</AssumedRoleId></AssumedRoleUser>\
         <SubjectFromWebIdentityToken>fast</SubjectFromWebIdentityToken>\
         </AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{n}</RequestId>\
         </ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
        role = xml_escape(&role),
        session = xml_escape(&session),
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from(xml))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

/// The value of `name` in a form-encoded body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .map(|v| percent_decode(&v.replace('+', " ")))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    response
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .body(Body::from(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

fn kms_error(kind: &str, message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "__type": kind, "message": message }),
    )
}

fn s3_error(status: StatusCode, code: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(xml))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_and_percent_decoding() {
        let body =
            b"Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa&X=a+b";
        assert_eq!(
            form_value(body, "Action").as_deref(),
            Some("AssumeRoleWithWebIdentity")
        );
        assert_eq!(
            form_value(body, "RoleArn").as_deref(),
            Some("arn:aws:iam::1:role/a")
        );
        assert_eq!(form_value(body, "X").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
