//! `objectEncoding`: how a stored value is turned into the file's bytes, after decryption (and
//! after extraction for a jmesPath field).
//!
//! - `utf-8` (the default): the bytes as they are, no check;
//! - `base64`: the standard alphabet (`+` `/`), RFC 4648 section 4;
//! - `base64url`: the URL-safe alphabet (`-` `_`), RFC 4648 section 5;
//! - `hex`: pairs of hexadecimal digits, upper or lower case.
//!
//! ASCII whitespace (space, tab, CR, LF) anywhere in the value is skipped, so values written by
//! `base64` (wrapped at 76 columns, final newline) or `xxd -p` decode. Base64 padding is optional;
//! when present it must be complete and at the end. Any other byte, a base64 length that no
//! encoder produces, or an odd number of hex digits fails the Mount with `INVALID_ARGUMENT`
//! naming the object and the encoding, and the message gives the offset, never the byte.
//!
//! The decoded bytes are a new zeroizing buffer, charged to the Mount's memory budget before it
//! is allocated; a value that fails to decode leaves nothing behind (the partial buffer is wiped).

use crate::budget::{Charge, MountBudget};
use crate::catalogue;
use crate::error::MountError;
use crate::secret_bytes::SecretBytes;

/// The encoding of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectEncoding {
    /// The bytes as they are.
    #[default]
    Utf8,
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    Base64Url,
    /// Hexadecimal.
    Hex,
}

impl ObjectEncoding {
    /// Every accepted spelling, as written in a SecretProviderClass.
    pub const NAMES: [&'static str; 4] = ["utf-8", "base64", "base64url", "hex"];

    /// Parses the value of `objectEncoding`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "utf-8" => Some(Self::Utf8),
            "base64" => Some(Self::Base64),
            "base64url" => Some(Self::Base64Url),
            "hex" => Some(Self::Hex),
            _ => None,
        }
    }

    /// The name as written in a SecretProviderClass.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Base64 => "base64",
            Self::Base64Url => "base64url",
            Self::Hex => "hex",
        }
    }

    /// Decodes `input` for the file of `label`. `None` for `utf-8`: the file is the input
    /// itself. Otherwise the decoded bytes and their charge to `budget`, taken before the buffer
    /// is allocated.
    pub fn apply(
        self,
        label: &str,
        input: &[u8],
        budget: &MountBudget,
    ) -> Result<Option<(SecretBytes, Charge)>, MountError> {
        if self == Self::Utf8 {
            return Ok(None);
        }
        let bound = self.decoded_bound(input);
        let charge = budget.hold(bound, label)?;
        let decoded = self
            .decode(input, bound)
            .map_err(|e| catalogue::bad_encoded_value(label, self.as_str(), e))?;
        Ok(Some((decoded, charge)))
    }

    /// The most bytes `input` can decode to.
    fn decoded_bound(self, input: &[u8]) -> usize {
        let digits = input.iter().filter(|b| !is_space(**b)).count();
        match self {
            Self::Utf8 => input.len(),
            Self::Base64 | Self::Base64Url => digits / 4 * 3 + 2,
            Self::Hex => digits / 2,
        }
    }

    /// Decodes into a buffer of `capacity` bytes, which never grows.
    fn decode(self, input: &[u8], capacity: usize) -> Result<SecretBytes, String> {
        let mut out = SecretBytes::with_capacity(capacity);
        match self {
            Self::Utf8 => out.extend_from_slice(input),
            Self::Base64 => decode_base64(input, b'+', b'/', &mut out)?,
            Self::Base64Url => decode_base64(input, b'-', b'_', &mut out)?,
            Self::Hex => decode_hex(input, &mut out)?,
        }
        Ok(out)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn base64_digit(b: u8, c62: u8, c63: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        _ if b == c62 => Some(62),
        _ if b == c63 => Some(63),
        _ => None,
    }
}

fn decode_base64(input: &[u8], c62: u8, c63: u8, out: &mut SecretBytes) -> Result<(), String> {
    let alphabet = if c62 == b'+' {
        "the base64 alphabet (A-Z a-z 0-9 + /)"
    } else {
        "the base64url alphabet (A-Z a-z 0-9 - _)"
    };
    let (mut acc, mut n, mut digits, mut padding) = (0u32, 0u8, 0usize, 0usize);
    for (offset, &b) in input.iter().enumerate() {
        if is_space(b) {
            continue;
        }
        if b == b'=' {
            padding += 1;
            continue;
        }
        let Some(d) = base64_digit(b, c62, c63) else {
            return Err(catalogue::not_in_alphabet(offset, alphabet));
        };
        if padding > 0 {
            return Err(catalogue::after_padding(offset));
        }
        digits += 1;
        acc = (acc << 6) | d;
        n += 1;
        if n == 4 {
            let [_, b0, b1, b2] = acc.to_be_bytes();
            out.extend_from_slice(&[b0, b1, b2]);
            acc = 0;
            n = 0;
        }
    }
    match (n, padding) {
        (1, _) => Err(catalogue::base64_length(digits)),
        (0, 0) => Ok(()),
        (2, 0 | 2) => {
            out.extend_from_slice(&[(acc >> 4) as u8]);
            Ok(())
        }
        (3, 0 | 1) => {
            let [_, _, b0, b1] = (acc >> 2).to_be_bytes();
            out.extend_from_slice(&[b0, b1]);
            Ok(())
        }
        _ => Err(catalogue::bad_padding()),
    }
}

fn decode_hex(input: &[u8], out: &mut SecretBytes) -> Result<(), String> {
    let mut high: Option<u8> = None;
    for (offset, &b) in input.iter().enumerate() {
        if is_space(b) {
            continue;
        }
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(catalogue::not_hex(offset)),
        };
        match high.take() {
            None => high = Some(d),
            Some(h) => out.extend_from_slice(&[(h << 4) | d]),
        }
    }
    if high.is_some() {
        return Err(catalogue::odd_hex());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
