//! A header block's content: decoded with the client's HPACK state (bounded as it is copied),
//! checked for an `:authority` h2 would refuse, and re-encoded with a repaired one as HEADERS and
//! CONTINUATION frames.

use bytes::{BufMut, BytesMut};

use super::{
    Block, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PRIORITY, FRAME_HEADER_LEN, MAX_EMIT_FRAME,
    MAX_HEADER_LIST, REPLACEMENT, RewriteError, TYPE_CONTINUATION, TYPE_HEADERS,
};

pub(super) type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

pub(super) fn decode(
    decoder: &mut loona_hpack::Decoder<'static>,
    block: &[u8],
) -> Result<HeaderList, RewriteError> {
    let mut headers = Vec::new();
    let mut size = 0usize;
    decoder
        .decode_with_cb(block, |name, value| {
            // Past the limit nothing more is copied; the decoder only walks the rest (bounded
            // by the block size) so that its table stays in step.
            size = size.saturating_add(name.len() + value.len() + 32);
            if size <= MAX_HEADER_LIST {
                headers.push((name.into_owned(), value.into_owned()));
            }
        })
        .map_err(|e| RewriteError::Hpack(format!("{e:?}")))?;
    if size > MAX_HEADER_LIST {
        return Err(RewriteError::ListTooLarge);
    }
    Ok(headers)
}

fn authority_is_valid(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

pub(super) fn needs_rewrite(headers: &HeaderList) -> bool {
    headers
        .iter()
        .any(|(name, value)| name == b":authority" && !authority_is_valid(value))
}

/// Re-encodes `headers` (with a repaired authority) as HEADERS + CONTINUATION frames.
pub(super) fn emit(
    block: &Block,
    headers: &HeaderList,
    encoder: &mut loona_hpack::Encoder<'static>,
    out: &mut BytesMut,
) {
    let repaired = headers.iter().map(|(name, value)| {
        if name == b":authority" && !authority_is_valid(value) {
            (name.as_slice(), REPLACEMENT)
        } else {
            (name.as_slice(), value.as_slice())
        }
    });
    let encoded = encoder.encode(repaired);
    let mut first = Vec::with_capacity(5 + encoded.len());
    let mut flags = block.flags & FLAG_END_STREAM;
    if let Some(priority) = block.priority {
        flags |= FLAG_PRIORITY;
        first.extend_from_slice(&priority);
    }
    let room = MAX_EMIT_FRAME - first.len();
    let split = encoded.len().min(room);
    first.extend_from_slice(&encoded[..split]);
    let mut rest = &encoded[split..];
    if rest.is_empty() {
        flags |= FLAG_END_HEADERS;
    }
    put_frame(out, TYPE_HEADERS, flags, block.stream_id, &first);
    while !rest.is_empty() {
        let n = rest.len().min(MAX_EMIT_FRAME);
        let flags = if n == rest.len() { FLAG_END_HEADERS } else { 0 };
        put_frame(out, TYPE_CONTINUATION, flags, block.stream_id, &rest[..n]);
        rest = &rest[n..];
    }
}

pub(super) fn put_frame(out: &mut BytesMut, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
    let len = payload.len();
    out.reserve(FRAME_HEADER_LEN + len);
    out.put_u8((len >> 16) as u8);
    out.put_u8((len >> 8) as u8);
    out.put_u8(len as u8);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream_id);
    out.put_slice(payload);
}
