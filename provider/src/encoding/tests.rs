//! Tests for `objectEncoding`. The oracle is an independent encoder: the `base64` crate for both
//! alphabets and `format!("{:02x}")` for hex.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use super::*;
use crate::budget::NodeBudget;

fn decode(encoding: ObjectEncoding, input: &[u8]) -> Result<Vec<u8>, String> {
    let node = NodeBudget::new(1 << 20);
    let budget = node.mount(usize::MAX);
    match encoding.apply("objects[0] (s3://b/k)", input, &budget) {
        Ok(Some((bytes, _charge))) => Ok(bytes.as_slice().to_vec()),
        Ok(None) => Ok(input.to_vec()),
        Err(e) => Err(e.to_string()),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % width == 0 {
            out.push_str("\r\n");
        }
        out.push(c);
    }
    out.push('\n');
    out
}

proptest! {
    #[test]
    fn decodes_what_an_independent_encoder_wrote(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(decode(ObjectEncoding::Base64, STANDARD.encode(&bytes).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Base64, STANDARD_NO_PAD.encode(&bytes).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Base64Url, URL_SAFE.encode(&bytes).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Base64Url, URL_SAFE_NO_PAD.encode(&bytes).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Hex, hex_of(&bytes).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Hex, hex_of(&bytes).to_uppercase().as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Utf8, &bytes).expect("as is"), bytes);
    }

    #[test]
    fn whitespace_is_skipped(bytes in proptest::collection::vec(any::<u8>(), 0..200), width in 1usize..80) {
        prop_assert_eq!(decode(ObjectEncoding::Base64, wrap(&STANDARD.encode(&bytes), width).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Base64Url, wrap(&URL_SAFE.encode(&bytes), width).as_bytes()).expect("decodes"), bytes.clone());
        prop_assert_eq!(decode(ObjectEncoding::Hex, wrap(&hex_of(&bytes), width).as_bytes()).expect("decodes"), bytes);
    }
}

#[test]
fn invalid_input_names_the_object_the_encoding_and_the_offset_never_the_byte() {
    let cases: [(ObjectEncoding, &[u8], &str); 9] = [
        (
            ObjectEncoding::Base64,
            b"aGVsbG8*",
            "byte 7 is not in the base64 alphabet",
        ),
        (
            ObjectEncoding::Base64,
            b"aGVs-G8=",
            "byte 4 is not in the base64 alphabet",
        ),
        (
            ObjectEncoding::Base64Url,
            b"aGVs+G8",
            "byte 4 is not in the base64url alphabet",
        ),
        (
            ObjectEncoding::Base64,
            b"aGVsbG8=x",
            "byte 8 follows the padding",
        ),
        (ObjectEncoding::Base64, b"aGVsb", "5 digits is not a length"),
        (
            ObjectEncoding::Base64,
            b"aGVsbG8==",
            "does not complete the last group",
        ),
        (
            ObjectEncoding::Base64,
            b"aGVs====",
            "does not complete the last group",
        ),
        (
            ObjectEncoding::Hex,
            b"6869z",
            "byte 4 is not a hexadecimal digit",
        ),
        (
            ObjectEncoding::Hex,
            b"686 9 6",
            "an odd number of hexadecimal digits",
        ),
    ];
    for (encoding, input, expected) in cases {
        let err = decode(encoding, input).expect_err("invalid");
        let head = format!(
            "objects[0] (s3://b/k): objectEncoding {}: ",
            encoding.as_str()
        );
        assert!(err.starts_with(&head), "{err}");
        assert!(err.contains(expected), "{input:?}: {err}");
        for quoted in ["'*'", "\"*\"", "'z'", "\"z\"", "0x7a", "0x2a"] {
            assert!(!err.contains(quoted), "quotes no input byte: {err}");
        }
        assert!(
            !err.contains(std::str::from_utf8(input).expect("ascii")),
            "{err}"
        );
    }
}

#[test]
fn invalid_input_is_invalid_argument_and_releases_its_charge() {
    let node = NodeBudget::new(1 << 20);
    let budget = node.mount(usize::MAX);
    let err = ObjectEncoding::Hex
        .apply("objects[0] (x)", b"00zz", &budget)
        .expect_err("invalid");
    assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
    assert_eq!(node.held_bytes(), 0);
}

#[test]
fn the_decoded_buffer_is_charged_before_it_is_allocated() {
    let node = NodeBudget::new(4 * 1024);
    let budget = node.mount(usize::MAX);
    let input = "00".repeat(3 * 1024);
    let (bytes, charge) = ObjectEncoding::Hex
        .apply("objects[0] (x)", input.as_bytes(), &budget)
        .expect("fits")
        .expect("decoded");
    assert_eq!(bytes.len(), 3 * 1024);
    assert_eq!(node.held_bytes(), 3 * 1024);
    let err = ObjectEncoding::Hex
        .apply("objects[1] (y)", input.as_bytes(), &budget)
        .expect_err("over the node budget");
    assert_eq!(err.grpc_code(), tonic::Code::ResourceExhausted);
    assert!(err.to_string().contains("objects[1] (y)"), "{err}");
    drop(charge);
    assert_eq!(node.held_bytes(), 0);
}

#[test]
fn utf8_is_the_bytes_as_they_are_without_a_copy() {
    let node = NodeBudget::new(1024);
    let budget = node.mount(usize::MAX);
    let invalid_utf8 = [0xff, 0xfe, 0x00];
    let decoded = ObjectEncoding::Utf8
        .apply("x", &invalid_utf8, &budget)
        .expect("as is");
    assert!(decoded.is_none());
    assert_eq!(node.held_bytes(), 0);
}

#[test]
fn names_parse_and_unknown_ones_are_named() {
    for name in ObjectEncoding::NAMES {
        assert_eq!(ObjectEncoding::parse(name).expect("known").as_str(), name);
    }
    assert!(ObjectEncoding::parse("base32").is_none(), "unknown");
    assert!(ObjectEncoding::parse("UTF-8").is_none(), "names are exact");
}
