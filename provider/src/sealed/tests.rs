//! Tests of the sealed format: round trips, every kind of malformed input, property tests.

use super::*;
use proptest::prelude::*;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn sample(plaintext: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let data_key = [7u8; 32];
    let ctx = BTreeMap::from([(NAMESPACE_CONTEXT_KEY.to_owned(), "team-a".to_owned())]);
    let sealed = seal(plaintext, &data_key, b"edk-blob", KEY_ARN, ctx).expect("seal");
    (sealed, data_key)
}

#[test]
fn round_trip() {
    let (bytes, key) = sample(b"hunter2");
    let sealed = Sealed::parse(&bytes).expect("parse");
    assert_eq!(sealed.header.key, KEY_ARN);
    assert_eq!(sealed.encrypted_data_key, b"edk-blob");
    assert_eq!(sealed.header.ctx[NAMESPACE_CONTEXT_KEY], "team-a");
    assert_eq!(sealed.open(&key).expect("open").as_slice(), b"hunter2");
}

#[test]
fn empty_plaintext_round_trips() {
    let (bytes, key) = sample(b"");
    assert_eq!(
        Sealed::parse(&bytes)
            .expect("parse")
            .open(&key)
            .expect("open")
            .len(),
        0
    );
}

#[test]
fn wrong_key_and_tampering_are_refused() {
    let (bytes, key) = sample(b"hunter2");
    assert_eq!(
        Sealed::parse(&bytes)
            .expect("parse")
            .open(&[8u8; 32])
            .expect_err("wrong key"),
        SealedError::Tampered
    );
    // Flip each byte of the ciphertext and tag.
    let header_end = 8 + u32::from_be_bytes(bytes[4..8].try_into().expect("len")) as usize;
    for i in header_end..bytes.len() {
        let mut altered = bytes.clone();
        altered[i] ^= 1;
        let sealed = Sealed::parse(&altered).expect("structure intact");
        assert_eq!(
            sealed.open(&key).expect_err("tampered"),
            SealedError::Tampered,
            "byte {i}"
        );
    }
    // Change the context in the header (authenticated as AAD) without breaking the JSON.
    let at = bytes
        .windows(6)
        .position(|w| w == b"team-a")
        .expect("context in header");
    let mut sealed_b = bytes.clone();
    sealed_b[at..at + 6].copy_from_slice(b"team-b");
    let parsed = Sealed::parse(&sealed_b).expect("still parses");
    assert_eq!(parsed.header.ctx[NAMESPACE_CONTEXT_KEY], "team-b");
    assert_eq!(parsed.open(&key).expect_err("aad"), SealedError::Tampered);
}

fn with_header(header: &str, rest: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(rest);
    out
}

#[test]
fn malformed_inputs_are_named() {
    let iv = BASE64.encode([0u8; 12]);
    let good =
        format!(r#"{{"alg":"AES-256-GCM","key":"{KEY_ARN}","edk":"AAAA","ctx":{{}},"iv":"{iv}"}}"#);
    let tag = [0u8; 16];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"KWS".to_vec(), "too short"),
        (b"XXXX\0\0\0\0".to_vec(), "magic"),
        (
            [&MAGIC[..], &u32::MAX.to_be_bytes()].concat(),
            "exceeds the limit",
        ),
        (
            [&MAGIC[..], &100u32.to_be_bytes(), b"{}"].concat(),
            "runs past the end",
        ),
        (with_header("not json", &tag), "not valid JSON"),
        (
            with_header(&good.replace("AES-256-GCM", "ROT13"), &tag),
            "unsupported alg",
        ),
        (
            with_header(&good.replace(KEY_ARN, "alias/x"), &tag),
            "field key",
        ),
        (
            with_header(&good.replace("\"AAAA\"", "\"!!\""), &tag),
            "field edk",
        ),
        (
            with_header(&good.replace("\"AAAA\"", "\"\""), &tag),
            "field edk",
        ),
        (with_header(&good.replace(&iv, "AAAA"), &tag), "field iv"),
        (
            with_header(&good.replace("\"ctx\":{}", "\"ctx\":{},\"extra\":1"), &tag),
            "unknown field",
        ),
        (with_header(&good, &tag[..15]), "truncated"),
    ];
    for (bytes, expected) in cases {
        let err = Sealed::parse(&bytes).expect_err(expected).to_string();
        assert!(err.contains(expected), "want {expected:?} in {err:?}");
    }
}

#[test]
fn data_key_must_be_32_bytes() {
    let (bytes, _) = sample(b"x");
    let sealed = Sealed::parse(&bytes).expect("parse");
    assert_eq!(
        sealed.open(&[1u8; 16]).expect_err("short key"),
        SealedError::BadDataKey
    );
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Sealed::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_with_valid_prefix(len in any::<u32>(), rest in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&rest);
        let _ = Sealed::parse(&bytes);
    }

    #[test]
    fn round_trips_any_plaintext(plaintext in proptest::collection::vec(any::<u8>(), 0..2048), key in any::<[u8; 32]>()) {
        let sealed = seal(&plaintext, &key, b"edk", KEY_ARN, BTreeMap::new()).expect("seal");
        let opened = Sealed::parse(&sealed).expect("parse").open(&key).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}
