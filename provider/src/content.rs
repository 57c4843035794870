//! From fetched bytes to plaintext, by object type: `s3` bytes are the secret; `kms` bytes are a
//! KMS ciphertext blob (binary or base64 text); `sealed` bytes are a sealed object (§2.4) whose
//! namespace binding is checked before any KMS call.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::aws::RegionalClients;
use crate::budget::MountBudget;
use crate::catalogue;
use crate::error::MountError;
use crate::failover;
use crate::kms::{self, DecryptCall};
use crate::limits::quote;
use crate::metrics::Metrics;
use crate::objects::{ObjectPlan, ObjectType};
use crate::sealed::{self, Sealed};
use crate::secret_bytes::SecretBytes;

/// What decryption needs beyond the bytes.
#[derive(Debug, Clone, Copy)]
pub struct OpenContext<'a> {
    /// KMS client of the Mount's region and identity.
    pub kms: &'a aws_sdk_kms::Client,
    /// The clients of `failoverRegion` (the same identity), if the class names one.
    pub failover: Option<&'a RegionalClients>,
    /// The pod's namespace, for sealed-object binding.
    pub namespace: Option<&'a str>,
    /// Metrics.
    pub metrics: &'a Metrics,
    /// The Mount's memory budget, charged for every copy made here.
    pub budget: &'a MountBudget,
}

/// Decodes an inline `ciphertext` parameter (always base64).
pub fn decode_inline(object: &ObjectPlan, text: &str) -> Result<Vec<u8>, MountError> {
    decode_base64(text.as_bytes()).ok_or_else(|| catalogue::ciphertext_not_base64(&object.label))
}

/// The version of inline ciphertext: the first 16 hex digits of its SHA-256.
pub fn inline_version(ciphertext: &[u8]) -> String {
    digest(&SHA256, ciphertext).as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An object's plaintext, and the failover region whose KMS decrypted it, if that was not the
/// Mount's.
#[derive(Debug)]
pub struct Opened<'a> {
    /// The plaintext.
    pub plaintext: SecretBytes,
    /// `failoverRegion`, when the Mount's region failed to decrypt.
    pub served_by: Option<&'a str>,
}

/// Turns `bytes` into the object's plaintext.
pub async fn open<'a>(
    object: &ObjectPlan,
    bytes: SecretBytes,
    ctx: OpenContext<'a>,
) -> Result<Opened<'a>, MountError> {
    match object.object_type {
        ObjectType::S3 | ObjectType::SecretsManager | ObjectType::SsmParameter => Ok(Opened {
            plaintext: bytes,
            served_by: None,
        }),
        ObjectType::Kms => {
            check_context(&object.label, &object.encryption_context, ctx.namespace)?;
            let _copy = ctx.budget.hold(bytes.len(), &object.label)?;
            let blob = binary_or_base64(object, bytes.as_slice(), |b| !looks_like_base64(b))?;
            let call = DecryptCall {
                label: &object.label,
                blob: &blob,
                key_id: None,
                context: &object.encryption_context,
            };
            decrypt(call, ctx).await
        }
        ObjectType::Sealed => {
            // The decoded copy and the plaintext it opens into.
            let _copies = ctx
                .budget
                .hold(bytes.len().saturating_mul(2), &object.label)?;
            let raw = binary_or_base64(object, bytes.as_slice(), |b| b.starts_with(sealed::MAGIC))?;
            open_sealed(object, &raw, ctx).await
        }
    }
}

async fn open_sealed<'a>(
    object: &ObjectPlan,
    raw: &[u8],
    ctx: OpenContext<'a>,
) -> Result<Opened<'a>, MountError> {
    let parsed = Sealed::parse(raw)
        .map_err(|e| catalogue::sealed_malformed(&object.label, e.to_string()))?;
    check_context(&object.label, &parsed.header.ctx, ctx.namespace)?;
    let call = DecryptCall {
        label: &object.label,
        blob: &parsed.encrypted_data_key,
        key_id: Some(&parsed.header.key),
        context: &parsed.header.ctx,
    };
    let data_key = decrypt(call, ctx).await?;
    let plaintext = parsed
        .open(data_key.plaintext.as_slice())
        .map_err(|e| catalogue::sealed_unopenable(&object.label, e.to_string()))?;
    Ok(Opened {
        plaintext,
        served_by: data_key.served_by,
    })
}

/// One `Decrypt` in the Mount's region, else (on a regional failure, with `failoverRegion`)
/// in the failover region: a blob without a key id as it is, a named key through its
/// multi-Region replica there. A key of one region has no replica, so its failure stands.
async fn decrypt<'a>(
    call: DecryptCall<'_>,
    ctx: OpenContext<'a>,
) -> Result<Opened<'a>, MountError> {
    let err = match kms::decrypt(ctx.kms, call, ctx.metrics).await {
        Ok(plaintext) => {
            return Ok(Opened {
                plaintext,
                served_by: None,
            });
        }
        Err(err) => err,
    };
    let Some(other) = ctx.failover.filter(|_| failover::fails_over(&err)) else {
        return Err(err);
    };
    let replica = match call.key_id {
        None => None,
        Some(key) => match failover::replica_key_arn(key, &other.region) {
            Some(replica) => Some(replica),
            None => {
                tracing::warn!(
                    object = call.label,
                    "the key is not a multi-Region key, so its Decrypt cannot fail over"
                );
                return Err(err);
            }
        },
    };
    failover::note(ctx.metrics, "kms", call.label, &other.region);
    let label = failover::label(call.label, &other.region);
    let call = DecryptCall {
        label: &label,
        key_id: replica.as_deref(),
        ..call
    };
    let plaintext = kms::decrypt(&other.kms, call, ctx.metrics).await?;
    Ok(Opened {
        plaintext,
        served_by: Some(&other.region),
    })
}

/// Encryption-context keys under `keywarden.io/` belong to Keywarden, whatever the object type:
/// `keywarden.io/namespace` may only name the pod's own namespace, and no other such key is
/// accepted. A sealed object's data key is a KMS ciphertext under that context, so without this
/// rule a pod of another namespace could ask for it as a `kms` object, naming the context itself.
/// Checked before any KMS call; `docs/security-model.md` lists the threat.
pub fn check_context(
    label: &str,
    context: &BTreeMap<String, String>,
    namespace: Option<&str>,
) -> Result<(), MountError> {
    let reserved = || {
        context
            .range(RESERVED_PREFIX.to_owned()..)
            .take_while(|(key, _)| key.starts_with(RESERVED_PREFIX))
    };
    if let Some((key, _)) = reserved().find(|(key, _)| *key != sealed::NAMESPACE_CONTEXT_KEY) {
        return Err(catalogue::context_key_reserved(label, &quote(key)));
    }
    if let Some((_, bound)) = reserved().next() {
        match namespace {
            Some(ns) if ns == bound => {}
            Some(ns) => {
                return Err(catalogue::namespace_mismatch(
                    label,
                    &quote(bound),
                    &quote(ns),
                ));
            }
            None => {
                return Err(catalogue::namespace_unknown(label, &quote(bound)));
            }
        }
    }
    Ok(())
}

/// The prefix of the encryption-context keys Keywarden reserves.
pub const RESERVED_PREFIX: &str = "keywarden.io/";

/// Raw bytes when `is_binary` says so, else base64 text decoded.
fn binary_or_base64(
    object: &ObjectPlan,
    bytes: &[u8],
    is_binary: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, MountError> {
    if is_binary(bytes) {
        return Ok(bytes.to_vec());
    }
    decode_base64(bytes)
        .ok_or_else(|| catalogue::not_a_blob(&object.label, object.object_type.as_str()))
}

fn looks_like_base64(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ' | b'\t')
        })
}

fn decode_base64(bytes: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    BASE64.decode(compact).ok().filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_version_is_16_hex_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea…
        assert_eq!(inline_version(b"abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn reserved_context_keys() {
        let ctx = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let ns = sealed::NAMESPACE_CONTEXT_KEY;
        check_context("o", &ctx(&[("app", "web")]), None).expect("no reserved key");
        check_context("o", &ctx(&[(ns, "a"), ("app", "web")]), Some("a")).expect("own namespace");
        let err = check_context("o", &ctx(&[(ns, "b")]), Some("a")).expect_err("other");
        assert_eq!(err.grpc_code(), tonic::Code::FailedPrecondition);
        let err = check_context("o", &ctx(&[(ns, "a")]), None).expect_err("no namespace");
        assert!(err.to_string().contains("names no pod namespace"), "{err}");
        // Another reserved key is refused whatever else the context says, before the namespace.
        let err = check_context("o", &ctx(&[(ns, "b"), ("keywarden.io/x", "1")]), Some("a"))
            .expect_err("reserved");
        assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
        assert!(
            err.to_string().contains("\"keywarden.io/x\" is reserved"),
            "{err}"
        );
        // Keys that only look alike are the user's.
        check_context(
            "o",
            &ctx(&[("keywarden.iox", "1"), ("keywarden.i", "2")]),
            None,
        )
        .expect("not reserved");
    }

    #[test]
    fn base64_detection() {
        assert!(looks_like_base64(b"AQIDBA==\n"));
        assert!(!looks_like_base64(&[1, 2, 3, 0]));
        assert_eq!(decode_base64(b"AQID\nBA=="), Some(vec![1, 2, 3, 4]));
        assert_eq!(decode_base64(b"!!"), None);
    }
}
