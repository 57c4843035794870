//! The Keywarden sealed object format, version 1 (docs/reference.md §2.4), specified so other tools can
//! produce it:
//!
//! | field | size | content |
//! |---|---|---|
//! | magic | 4 | ASCII `KWS1` |
//! | header length | 4 | unsigned big-endian |
//! | header | n | UTF-8 JSON `{"alg","key","edk","ctx","iv"}` |
//! | ciphertext | rest | AES-256-GCM of the plaintext, 16-byte tag at the end |
//!
//! The AAD is magic ‖ header length ‖ header, so the header cannot be altered. The data key is
//! a KMS `GenerateDataKey` result; `edk` is its `CiphertextBlob`. Parsing never panics: every
//! malformed input is a [`SealedError`].

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::catalogue;
use crate::secret_bytes::SecretBytes;

/// File magic.
pub const MAGIC: &[u8; 4] = b"KWS1";
/// The only algorithm of format version 1.
pub const ALG: &str = "AES-256-GCM";
/// Largest header accepted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Encryption-context key that binds a sealed object to one namespace.
pub const NAMESPACE_CONTEXT_KEY: &str = "keywarden.io/namespace";
const IV_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const DATA_KEY_BYTES: usize = 32;

/// Why sealed bytes could not be parsed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealedError {
    /// Input shorter than magic + length.
    #[error("{}", catalogue::sealed_too_short(.0))]
    TooShort(usize),
    /// Wrong magic.
    #[error("{}", catalogue::sealed_bad_magic())]
    BadMagic,
    /// Header length over the limit.
    #[error("{}", catalogue::sealed_header_too_large(.0, MAX_HEADER_BYTES))]
    HeaderTooLarge(usize),
    /// Header length beyond the input.
    #[error("{}", catalogue::sealed_truncated(.0))]
    Truncated(usize),
    /// Header is not the expected JSON.
    #[error("{}", catalogue::sealed_bad_header(.0))]
    BadHeader(String),
    /// Unknown algorithm.
    #[error("{}", catalogue::sealed_unknown_alg(&crate::limits::quote(.0), ALG))]
    UnknownAlg(String),
    /// A header field has the wrong length or encoding.
    #[error("{}", catalogue::sealed_bad_field(.field, .problem))]
    BadField {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Ciphertext shorter than the tag.
    #[error("{}", catalogue::sealed_ciphertext_truncated())]
    CiphertextTruncated,
    /// The data key is not 32 bytes.
    #[error("{}", catalogue::sealed_bad_data_key())]
    BadDataKey,
    /// Authentication failed: tampered header or ciphertext, or the wrong key.
    #[error("{}", catalogue::sealed_tampered())]
    Tampered,
}

/// The JSON header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `AES-256-GCM`.
    pub alg: String,
    /// KMS key ARN the data key was generated under.
    pub key: String,
    /// Base64 `CiphertextBlob` of the data key.
    pub edk: String,
    /// The KMS encryption context.
    #[serde(default)]
    pub ctx: BTreeMap<String, String>,
    /// Base64 12-byte IV.
    pub iv: String,
}

/// A parsed sealed object, borrowing the input.
#[derive(Debug)]
pub struct Sealed<'a> {
    /// The header.
    pub header: Header,
    /// The encrypted data key.
    pub encrypted_data_key: Vec<u8>,
    iv: [u8; IV_BYTES],
    aad: &'a [u8],
    ciphertext: &'a [u8],
}

impl<'a> Sealed<'a> {
    /// Parses and checks the structure; opening needs the data key.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SealedError> {
        if bytes.len() < 8 {
            return Err(SealedError::TooShort(bytes.len()));
        }
        if &bytes[..4] != MAGIC {
            return Err(SealedError::BadMagic);
        }
        let header_len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if header_len > MAX_HEADER_BYTES {
            return Err(SealedError::HeaderTooLarge(header_len));
        }
        let header_end = 8 + header_len;
        if bytes.len() < header_end {
            return Err(SealedError::Truncated(header_len));
        }
        let header: Header = serde_json::from_slice(&bytes[8..header_end])
            .map_err(|e| SealedError::BadHeader(crate::limits::clip(&e.to_string())))?;
        if header.alg != ALG {
            return Err(SealedError::UnknownAlg(header.alg));
        }
        if !header.key.starts_with("arn:") || !header.key.contains(":key/") {
            return Err(SealedError::BadField {
                field: "key",
                problem: "must be a KMS key ARN".into(),
            });
        }
        let encrypted_data_key = decode_field("edk", &header.edk)?;
        if encrypted_data_key.is_empty() {
            return Err(SealedError::BadField {
                field: "edk",
                problem: "is empty".into(),
            });
        }
        let iv: [u8; IV_BYTES] =
            decode_field("iv", &header.iv)?
                .try_into()
                .map_err(|v: Vec<u8>| SealedError::BadField {
                    field: "iv",
                    problem: catalogue::sealed_field_length(v.len(), IV_BYTES),
                })?;
        let ciphertext = &bytes[header_end..];
        if ciphertext.len() < TAG_BYTES {
            return Err(SealedError::CiphertextTruncated);
        }
        Ok(Self {
            header,
            encrypted_data_key,
            iv,
            aad: &bytes[..header_end],
            ciphertext,
        })
    }

    /// Decrypts with the 32-byte data key KMS returned for `encrypted_data_key`.
    pub fn open(&self, data_key: &[u8]) -> Result<SecretBytes, SealedError> {
        let key = aead_key(data_key)?;
        let mut in_out = SecretBytes::from(self.ciphertext.to_vec());
        let plaintext_len = {
            let buf = in_out.as_mut_slice();
            key.open_in_place(
                Nonce::assume_unique_for_key(self.iv),
                Aad::from(self.aad),
                buf,
            )
            .map_err(|_| SealedError::Tampered)?
            .len()
        };
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }
}

/// Seals `plaintext` under a data key (plaintext `data_key`, KMS blob `encrypted_data_key`)
/// generated under `key_arn` with `ctx`.
pub fn seal(
    plaintext: &[u8],
    data_key: &[u8],
    encrypted_data_key: &[u8],
    key_arn: &str,
    ctx: BTreeMap<String, String>,
) -> Result<Vec<u8>, SealedError> {
    let key = aead_key(data_key)?;
    let mut iv = [0u8; IV_BYTES];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| SealedError::BadDataKey)?;
    let header = Header {
        alg: ALG.into(),
        key: key_arn.into(),
        edk: BASE64.encode(encrypted_data_key),
        ctx,
        iv: BASE64.encode(iv),
    };
    let header_json =
        serde_json::to_vec(&header).map_err(|e| SealedError::BadHeader(e.to_string()))?;
    if header_json.len() > MAX_HEADER_BYTES {
        return Err(SealedError::HeaderTooLarge(header_json.len()));
    }
    let mut out = Vec::with_capacity(8 + header_json.len() + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header_json.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_json);
    let aad_len = out.len();
    out.extend_from_slice(plaintext);
    let (aad, body) = out.split_at_mut(aad_len);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(&*aad), body)
        .map_err(|_| SealedError::BadDataKey)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn aead_key(data_key: &[u8]) -> Result<LessSafeKey, SealedError> {
    if data_key.len() != DATA_KEY_BYTES {
        return Err(SealedError::BadDataKey);
    }
    let unbound = UnboundKey::new(&AES_256_GCM, data_key).map_err(|_| SealedError::BadDataKey)?;
    Ok(LessSafeKey::new(unbound))
}

fn decode_field(field: &'static str, value: &str) -> Result<Vec<u8>, SealedError> {
    BASE64.decode(value).map_err(|e| SealedError::BadField {
        field,
        problem: catalogue::sealed_field_not_base64(e),
    })
}

#[cfg(test)]
mod tests;
