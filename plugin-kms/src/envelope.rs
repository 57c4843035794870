//! What the plugin hands the apiserver to store, and the apiserver's limits on it.
//!
//! Ciphertext = one format byte ([`FORMAT_V1`]) followed by the AWS KMS `CiphertextBlob`; the
//! byte lets a later version change the layout without guessing. kube-apiserver refuses
//! ciphertexts and key ids over 1024 bytes, annotation keys that are not fully qualified domain
//! names, and annotations over 32 KiB in total (`reference/kms-plugin.md` §2.1); this module
//! checks the same rules on what we return and on what we are given back.
//!
//! Annotations (stored in plain text beside the object in etcd) record what Decrypt needs if
//! the plugin's configuration changes later: the format version and the encryption context the
//! data was encrypted with. The context is public by design (it is logged by CloudTrail too).

use std::collections::{BTreeMap, HashMap};

use crate::error::PluginError;

/// The first byte of every ciphertext this plugin returns.
pub const FORMAT_V1: u8 = 0x01;
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
        return Err(PluginError::Internal(
            "AWS KMS returned an empty ciphertext".into(),
        ));
    }
    if blob.len() + 1 > MAX_CIPHERTEXT {
        return Err(PluginError::Internal(format!(
            "AWS KMS returned a {}-byte ciphertext; the apiserver accepts at most {MAX_CIPHERTEXT} bytes",
            blob.len()
        )));
    }
    let mut out = Vec::with_capacity(blob.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(blob);
    Ok(out)
}

/// The `CiphertextBlob` inside a ciphertext this plugin returned.
pub fn unframe(ciphertext: &[u8]) -> Result<&[u8], PluginError> {
    if ciphertext.len() > MAX_CIPHERTEXT {
        return Err(PluginError::InvalidArgument(format!(
            "ciphertext is {} bytes, over the limit of {MAX_CIPHERTEXT}",
            ciphertext.len()
        )));
    }
    match ciphertext.split_first() {
        None => Err(PluginError::InvalidArgument("ciphertext is empty".into())),
        Some((&FORMAT_V1, [])) => Err(PluginError::InvalidArgument(
            "ciphertext has no KMS blob after the format byte".into(),
        )),
        Some((&FORMAT_V1, blob)) => Ok(blob),
        Some((other, _)) => Err(PluginError::InvalidArgument(format!(
            "ciphertext format byte 0x{other:02x} is not one this plugin writes"
        ))),
    }
}

/// Checks a `key_id` the apiserver sent back.
pub fn check_key_id(key_id: &str) -> Result<(), PluginError> {
    if key_id.is_empty() {
        return Err(PluginError::InvalidArgument("key_id is empty".into()));
    }
    if key_id.len() > MAX_KEY_ID {
        return Err(PluginError::InvalidArgument(format!(
            "key_id is {} bytes, over the limit of {MAX_KEY_ID}",
            key_id.len()
        )));
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
            return Err(PluginError::InvalidArgument(format!(
                "annotation key {key:?} is not a fully qualified domain name"
            )));
        }
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS {
        return Err(PluginError::InvalidArgument(format!(
            "annotations total {total} bytes, over the limit of {MAX_ANNOTATIONS}"
        )));
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
        return Err(PluginError::InvalidArgument(format!(
            "annotation {ANNOTATION_VERSION} names a format this plugin does not know"
        )));
    }
    match annotations.get(ANNOTATION_CONTEXT) {
        Some(json) => serde_json::from_slice(json).map_err(|_| {
            PluginError::InvalidArgument(format!(
                "annotation {ANNOTATION_CONTEXT} is not a JSON object of strings"
            ))
        }),
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
