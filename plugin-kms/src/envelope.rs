//! What the plugin hands the apiserver to store, and the apiserver's limits on it.
//!
//! v2 ciphertext = one format byte ([`FORMAT_V1`]) followed by the AWS KMS `CiphertextBlob`; the
//! byte lets a later version change the layout without guessing. v1beta1 has no key id and no
//! annotations, so its ciphertext ([`FORMAT_V1BETA1`]) carries them itself: the key ARN and the
//! encryption context, each length-prefixed, before the blob ([`V1Ciphertext`]). Decrypt can then
//! check the key before KMS sees the request, as for v2. kube-apiserver refuses
//! ciphertexts and key ids over 1024 bytes, annotation keys that are not fully qualified domain
//! names, and annotations over 32 KiB in total (`docs/reference.md` §9.1); this module
//! checks the same rules on what we return and on what we are given back.
//!
//! Annotations (stored in plain text beside the object in etcd) record what Decrypt needs if
//! the plugin's configuration changes later: the format version and the encryption context the
//! data was encrypted with. The context is public by design (it is logged by CloudTrail too).

use std::collections::{BTreeMap, HashMap};

use crate::catalogue;
use crate::error::PluginError;

/// The first byte of every v2 ciphertext (and of v1beta1 ciphertexts of earlier versions).
pub const FORMAT_V1: u8 = 0x01;
/// The first byte of v1beta1 ciphertexts that name their key and context.
pub const FORMAT_V1BETA1: u8 = 0x02;
/// Largest ciphertext and key id the apiserver accepts.
pub const MAX_CIPHERTEXT: usize = 1024;
/// Largest `key_id` the apiserver accepts.
pub const MAX_KEY_ID: usize = 1024;
/// Largest sum of annotation key and value lengths the apiserver accepts.
pub const MAX_ANNOTATIONS: usize = 32 * 1024;
/// Largest plaintext AWS KMS `Encrypt` accepts.
pub const MAX_PLAINTEXT: usize = 4096;
/// Annotation holding the format version.
pub const ANNOTATION_VERSION: &str = "version.kms.keywarden.io";
/// Annotation holding the encryption context, as a JSON object.
pub const ANNOTATION_CONTEXT: &str = "encryption-context.kms.keywarden.io";

/// An AWS KMS encryption context; ordered so that its JSON form is canonical.
pub type Context = BTreeMap<String, String>;

/// Prefixes a KMS `CiphertextBlob` with the format byte, refusing results over the limit.
pub fn frame(blob: &[u8]) -> Result<Vec<u8>, PluginError> {
    if blob.is_empty() {
        return Err(catalogue::kms_empty_ciphertext());
    }
    if blob.len() + 1 > MAX_CIPHERTEXT {
        return Err(catalogue::kms_ciphertext_too_large(
            blob.len(),
            MAX_CIPHERTEXT,
        ));
    }
    let mut out = Vec::with_capacity(blob.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(blob);
    Ok(out)
}

/// The `CiphertextBlob` inside a ciphertext this plugin returned.
pub fn unframe(ciphertext: &[u8]) -> Result<&[u8], PluginError> {
    if ciphertext.len() > MAX_CIPHERTEXT {
        return Err(catalogue::ciphertext_too_large(
            ciphertext.len(),
            MAX_CIPHERTEXT,
        ));
    }
    match ciphertext.split_first() {
        None => Err(catalogue::ciphertext_empty()),
        Some((&FORMAT_V1, [])) => Err(catalogue::ciphertext_no_blob()),
        Some((&FORMAT_V1, blob)) => Ok(blob),
        Some((other, _)) => Err(catalogue::unknown_format(*other)),
    }
}

/// A v1beta1 ciphertext, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Ciphertext<'c> {
    /// The key ARN it was encrypted under; `None` for ciphertexts of earlier versions.
    pub key_id: Option<String>,
    /// The encryption context it was encrypted with; `None` for earlier versions.
    pub context: Option<Context>,
    /// The AWS KMS `CiphertextBlob`.
    pub blob: &'c [u8],
}

/// `[FORMAT_V1BETA1] [u16 len] key ARN [u16 len] context JSON [blob]`, refusing results over
/// the limit.
pub fn frame_v1beta1(blob: &[u8], key_id: &str, context: &Context) -> Result<Vec<u8>, PluginError> {
    let json = serde_json::to_vec(context).unwrap_or_default();
    let total = 1 + 2 + key_id.len() + 2 + json.len() + blob.len();
    if blob.is_empty() || total > MAX_CIPHERTEXT {
        return Err(catalogue::v1_too_large(total, blob.len(), MAX_CIPHERTEXT));
    }
    let mut out = Vec::with_capacity(total);
    out.push(FORMAT_V1BETA1);
    for part in [key_id.as_bytes(), json.as_slice()] {
        out.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(blob);
    Ok(out)
}

/// Takes a v1beta1 ciphertext apart: this version's [`FORMAT_V1BETA1`], or the bare
/// [`FORMAT_V1`] framing earlier versions wrote.
pub fn unframe_v1beta1(ciphertext: &[u8]) -> Result<V1Ciphertext<'_>, PluginError> {
    if ciphertext.first() != Some(&FORMAT_V1BETA1) {
        return Ok(V1Ciphertext {
            key_id: None,
            context: None,
            blob: unframe(ciphertext)?,
        });
    }
    if ciphertext.len() > MAX_CIPHERTEXT {
        return Err(catalogue::ciphertext_too_large(
            ciphertext.len(),
            MAX_CIPHERTEXT,
        ));
    }
    let truncated = catalogue::v1_truncated;
    let mut rest = &ciphertext[1..];
    let mut parts = [&[][..]; 2];
    for part in &mut parts {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(truncated());
        }
        (*part, rest) = tail.split_at(len);
    }
    let key_id = std::str::from_utf8(parts[0])
        .ok()
        .filter(|k| !k.is_empty())
        .ok_or_else(catalogue::v1_no_key)?;
    let context: Context =
        serde_json::from_slice(parts[1]).map_err(|_| catalogue::v1_bad_context())?;
    if rest.is_empty() {
        return Err(catalogue::v1_no_blob());
    }
    Ok(V1Ciphertext {
        key_id: Some(key_id.to_owned()),
        context: Some(context),
        blob: rest,
    })
}

/// Checks a `key_id` the apiserver sent back.
pub fn check_key_id(key_id: &str) -> Result<(), PluginError> {
    if key_id.is_empty() {
        return Err(catalogue::key_id_empty());
    }
    if key_id.len() > MAX_KEY_ID {
        return Err(catalogue::key_id_too_long(key_id.len(), MAX_KEY_ID));
    }
    Ok(())
}

/// The annotations returned with a ciphertext encrypted under `context`.
pub fn annotations(context: &Context) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::with_capacity(2);
    out.insert(ANNOTATION_VERSION.to_owned(), b"1".to_vec());
    if !context.is_empty() {
        let json = serde_json::to_vec(context).unwrap_or_default();
        out.insert(ANNOTATION_CONTEXT.to_owned(), json);
    }
    out
}

/// Checks annotations against the apiserver's rules.
pub fn check_annotations(annotations: &HashMap<String, Vec<u8>>) -> Result<(), PluginError> {
    let mut total = 0usize;
    for (key, value) in annotations {
        if !is_fqdn(key) {
            return Err(catalogue::annotation_key(
                &keywarden_runtime::catalogue::quote(key),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS {
        return Err(catalogue::annotations_too_large(total, MAX_ANNOTATIONS));
    }
    Ok(())
}

/// The encryption context a ciphertext was written with: the recorded one when the annotations
/// carry it, else `configured` (data written without a context records none).
pub fn recorded_context(
    annotations: &HashMap<String, Vec<u8>>,
    configured: &Context,
) -> Result<Context, PluginError> {
    check_annotations(annotations)?;
    if let Some(version) = annotations.get(ANNOTATION_VERSION)
        && version.as_slice() != b"1"
    {
        return Err(catalogue::unknown_annotation_version(ANNOTATION_VERSION));
    }
    match annotations.get(ANNOTATION_CONTEXT) {
        Some(json) => serde_json::from_slice(json)
            .map_err(|_| catalogue::bad_context_annotation(ANNOTATION_CONTEXT)),
        None if annotations.contains_key(ANNOTATION_VERSION) => Ok(Context::new()),
        None => Ok(configured.clone()),
    }
}

/// What a v2 `DecryptRequest` asks for, checked before any KMS call: the KMS blob inside
/// `ciphertext` and the encryption context to decrypt it under.
pub fn decrypt_request<'c>(
    ciphertext: &'c [u8],
    key_id: &str,
    annotations: &HashMap<String, Vec<u8>>,
    configured: &Context,
) -> Result<(&'c [u8], Context), PluginError> {
    check_key_id(key_id)?;
    let blob = unframe(ciphertext)?;
    Ok((blob, recorded_context(annotations, configured)?))
}

/// apimachinery's `IsFullyQualifiedDomainName`: a trailing dot is ignored; the rest must be a
/// lowercase RFC 1123 subdomain of at most 253 characters with at least two labels.
pub fn is_fqdn(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2 && labels.iter().all(|l| is_dns_label(l))
}

fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rules_match_the_apiserver() {
        for good in [
            "version.encryption.remote.io",
            "version.kms.keywarden.io",
            "a.b",
            "a-1.b.",
        ] {
            assert!(is_fqdn(good), "{good}");
        }
        let long_label = format!("{}.io", "a".repeat(64));
        let long_name = format!("{}io", "abcdefghi.".repeat(26));
        for bad in [
            "foo",
            "",
            ".",
            "Upper.io",
            "-a.io",
            "a-.io",
            "a..io",
            "a_b.io",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!is_fqdn(bad), "{bad}");
        }
    }

    #[test]
    fn framing_round_trips_and_refuses_bad_input() {
        let framed = frame(&[9; 200]).expect("framed");
        assert_eq!(framed[0], FORMAT_V1);
        assert_eq!(unframe(&framed).expect("unframed"), &[9; 200][..]);
        assert!(frame(&[1; MAX_CIPHERTEXT]).is_err(), "1025 bytes in total");
        assert!(
            frame(&[1; MAX_CIPHERTEXT - 1]).is_ok(),
            "1024 bytes in total"
        );
        for bad in [
            &[][..],
            &[FORMAT_V1][..],
            &[0x31, 1, 2][..],
            &[FORMAT_V1; MAX_CIPHERTEXT + 1][..],
        ] {
            let err = unframe(bad).expect_err("refused");
            assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument, "{err}");
        }
    }

    #[test]
    fn annotations_satisfy_the_apiserver_and_carry_the_context() {
        let context: Context = [("cluster".to_owned(), "prod".to_owned())].into();
        let annotations = annotations(&context);
        check_annotations(&annotations).expect("valid");
        let other: Context = [("cluster".to_owned(), "other".to_owned())].into();
        assert_eq!(
            recorded_context(&annotations, &other).expect("context"),
            context
        );
        let empty = super::annotations(&Context::new());
        assert_eq!(
            recorded_context(&empty, &other).expect("none"),
            Context::new()
        );
        assert_eq!(
            recorded_context(&HashMap::new(), &other).expect("configured"),
            other
        );
    }

    #[test]
    fn v1beta1_ciphertexts_name_key_and_context() {
        let context: Context = [("cluster".to_owned(), "prod".to_owned())].into();
        let key = "arn:aws:kms:us-east-1:1:key/a";
        let framed = frame_v1beta1(&[9; 184], key, &context).expect("framed");
        let parsed = unframe_v1beta1(&framed).expect("parsed");
        assert_eq!(parsed.key_id.as_deref(), Some(key));
        assert_eq!(parsed.context.as_ref(), Some(&context));
        assert_eq!(parsed.blob, &[9; 184][..]);
        let legacy = frame(&[5; 10]).expect("legacy");
        let parsed = unframe_v1beta1(&legacy).expect("earlier versions' framing");
        assert_eq!(
            (parsed.key_id, parsed.context, parsed.blob),
            (None, None, &[5; 10][..])
        );
        assert!(
            frame_v1beta1(&[1; 1000], key, &context).is_err(),
            "over 1024 bytes"
        );
        for cut in 1..framed.len() - 184 + 1 {
            let err = unframe_v1beta1(&framed[..cut]).expect_err("truncated");
            assert_eq!(
                err.grpc_code(),
                tonic::Code::InvalidArgument,
                "{cut}: {err}"
            );
        }
        let mut no_key = vec![FORMAT_V1BETA1, 0, 0, 0, 2];
        no_key.extend_from_slice(b"{}x");
        assert!(unframe_v1beta1(&no_key).is_err());
    }

    /// The byte layouts docs/kms-rotation.md documents, written out by hand: a framing bug
    /// shared by `frame*` and `unframe*` would still round-trip, but not match these.
    #[test]
    fn framing_matches_the_documented_bytes() {
        let context: Context = [("cluster".to_owned(), "prod".to_owned())].into();
        assert_eq!(frame(&[7, 8]).expect("v2"), [0x01, 7, 8]);
        let mut expected = vec![0x02, 0, 5];
        expected.extend_from_slice(b"arn:k");
        expected.extend_from_slice(&[0, 18]);
        expected.extend_from_slice(br#"{"cluster":"prod"}"#);
        expected.extend_from_slice(&[7, 8]);
        assert_eq!(
            frame_v1beta1(&[7, 8], "arn:k", &context).expect("v1beta1"),
            expected
        );
        let annotations = annotations(&context);
        assert_eq!(
            annotations.get(ANNOTATION_CONTEXT).map(Vec::as_slice),
            Some(&br#"{"cluster":"prod"}"#[..])
        );
        assert_eq!(
            annotations.get(ANNOTATION_VERSION).map(Vec::as_slice),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn bad_annotations_are_refused() {
        let cases: [HashMap<String, Vec<u8>>; 4] = [
            [("foo".to_owned(), b"1".to_vec())].into(),
            [(ANNOTATION_CONTEXT.to_owned(), b"not json".to_vec())].into(),
            [(ANNOTATION_VERSION.to_owned(), b"9".to_vec())].into(),
            [("big.example.io".to_owned(), vec![0; MAX_ANNOTATIONS])].into(),
        ];
        for annotations in cases {
            let err = recorded_context(&annotations, &Context::new()).expect_err("refused");
            assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument, "{err}");
        }
    }
}
