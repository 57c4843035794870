//! Repairs the HTTP/2 `:authority` that older gRPC clients send over unix sockets.
//!
//! Secrets Store CSI drivers before v1.6.0 dial the provider with `grpc.Dial(socketPath, …)` and
//! so send `:authority` = the socket path (`/var/run/…/keywarden.sock`). That is not a valid URI
//! authority, and the `h2` crate under tonic resets such streams with `PROTOCOL_ERROR`. This module
//! sits between the socket and h2 and rewrites the client's request header blocks before h2 sees
//! them:
//!
//! * The first header block of a connection is decoded. If its `:authority` is valid (or absent),
//!   the original bytes are forwarded untouched and the connection switches to plain passthrough
//!   for good: drivers ≥ v1.6.0 (which send `localhost`) pay nothing after the first request.
//! * Otherwise every header block of the connection is decoded with a decoder that mirrors the
//!   client's HPACK state and re-encoded with an encoder that mirrors h2's, replacing an invalid
//!   `:authority` with `localhost`. Padding is dropped; priority fields are kept.
//!
//! The server's writes pass through unchanged. Malformed framing or HPACK data ends the connection
//! with `InvalidData`; h2 would have rejected it anyway.

use bytes::{BufMut, BytesMut};

mod connection;
mod headers;

pub use connection::{AuthorityRepair, RepairedConnectInfo};
#[cfg(test)]
use headers::put_frame;
use headers::{decode, emit, needs_rewrite};

/// HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// Largest frame payload we emit: the HTTP/2 minimum every peer must accept.
const MAX_EMIT_FRAME: usize = 16_384;
/// Largest header block we buffer; h2's own default header list limit is 16 KiB.
const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Most frames (HEADERS and its CONTINUATIONs) in one header block. Empty CONTINUATION frames
/// add nothing to the block yet cost 9 bytes each to keep for forwarding: without a count, a
/// client could send them forever (the HTTP/2 CONTINUATION flood). Real clients send one or two.
const MAX_BLOCK_FRAMES: usize = 64;
/// Largest decoded header list (RFC 9113 §6.5.2 size: name + value + 32 per field). HPACK lets a
/// small block name one table entry thousands of times, so the decoded list is bounded on its
/// own, above hyper's 16 KiB default so that h2 still answers the lists it would refuse anyway.
const MAX_HEADER_LIST: usize = 64 * 1024;
/// HPACK dynamic table size h2 advertises by default (SETTINGS_HEADER_TABLE_SIZE).
const HPACK_TABLE_SIZE: usize = 4096;
/// What a missing-or-invalid authority becomes.
const REPLACEMENT: &[u8] = b"localhost";

/// Why a client's byte stream could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The connection did not start with the HTTP/2 preface.
    #[error("{}", crate::catalogue::bad_preface())]
    BadPreface,
    /// A HEADERS/CONTINUATION frame is inconsistent with the framing rules.
    #[error("{}", crate::catalogue::bad_framing(.0))]
    Framing(&'static str),
    /// The header block is larger than we are willing to buffer.
    #[error("{}", crate::catalogue::header_block_too_large(MAX_HEADER_BLOCK))]
    TooLarge,
    /// The decoded header list is over the limit (an HPACK expansion).
    #[error("{}", crate::catalogue::header_list_too_large(MAX_HEADER_LIST))]
    ListTooLarge,
    /// The HPACK data did not decode.
    #[error("{}", crate::catalogue::bad_hpack(.0))]
    Hpack(String),
}

enum State {
    /// Waiting for (the rest of) the connection preface.
    Preface,
    /// At a frame boundary.
    FrameStart,
    /// Forwarding `n` more payload bytes of a frame we do not touch.
    Forward(usize),
    /// Collecting a header block split across HEADERS + CONTINUATION frames.
    Continuation(Block),
    /// Everything from here on is forwarded as is.
    Passthrough,
}

/// A header block being collected: the frame's stream, flags, priority bytes and fragments.
struct Block {
    stream_id: u32,
    flags: u8,
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
    /// The frames exactly as received, for forwarding unchanged.
    raw: Vec<u8>,
    /// Frames received for this block.
    frames: usize,
}

/// Mode once the first header block has been seen.
enum Mode {
    Undecided,
    Rewrite {
        decoder: Box<loona_hpack::Decoder<'static>>,
        encoder: Box<loona_hpack::Encoder<'static>>,
    },
}

/// The synchronous core: consumes client bytes, produces the bytes h2 should see.
pub struct Rewriter {
    state: State,
    mode: Mode,
}

impl std::fmt::Debug for Rewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewriter")
            .field("passthrough", &self.is_passthrough())
            .finish()
    }
}

impl Default for Rewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Rewriter {
    /// A rewriter at the start of a connection.
    pub fn new() -> Self {
        Self {
            state: State::Preface,
            mode: Mode::Undecided,
        }
    }

    /// True once the connection has been found not to need rewriting.
    pub fn is_passthrough(&self) -> bool {
        matches!(self.state, State::Passthrough)
    }

    /// Moves as much of `input` as can be processed into `out`. Bytes of incomplete frames stay
    /// in `input` until more arrive.
    pub fn feed(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<(), RewriteError> {
        loop {
            match &mut self.state {
                State::Passthrough => {
                    out.put(input.split());
                    return Ok(());
                }
                State::Preface => {
                    if input.len() < PREFACE.len() {
                        if !PREFACE.starts_with(input) {
                            return Err(RewriteError::BadPreface);
                        }
                        return Ok(());
                    }
                    if &input[..PREFACE.len()] != PREFACE {
                        return Err(RewriteError::BadPreface);
                    }
                    out.put(input.split_to(PREFACE.len()));
                    self.state = State::FrameStart;
                }
                State::Forward(remaining) => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    let n = (*remaining).min(input.len());
                    out.put(input.split_to(n));
                    *remaining -= n;
                    if *remaining == 0 {
                        self.state = State::FrameStart;
                    }
                }
                State::FrameStart | State::Continuation(_) => {
                    let Some(header) = FrameHeader::peek(input) else {
                        return Ok(());
                    };
                    let collecting = matches!(self.state, State::Continuation(_));
                    if collecting && header.kind != TYPE_CONTINUATION {
                        return Err(RewriteError::Framing("expected CONTINUATION"));
                    }
                    if header.kind != TYPE_HEADERS && header.kind != TYPE_CONTINUATION {
                        out.put(input.split_to(FRAME_HEADER_LEN));
                        self.state = if header.len == 0 {
                            State::FrameStart
                        } else {
                            State::Forward(header.len)
                        };
                        continue;
                    }
                    if header.len > MAX_HEADER_BLOCK {
                        return Err(RewriteError::TooLarge);
                    }
                    if input.len() < FRAME_HEADER_LEN + header.len {
                        input.reserve(FRAME_HEADER_LEN + header.len - input.len());
                        return Ok(());
                    }
                    let frame = input.split_to(FRAME_HEADER_LEN + header.len);
                    let block = self.absorb(header, &frame)?;
                    if let Some(block) = block {
                        self.finish_block(block, out)?;
                    }
                }
            }
        }
    }

    /// Adds one HEADERS or CONTINUATION frame; returns the block once it is complete.
    fn absorb(&mut self, header: FrameHeader, frame: &[u8]) -> Result<Option<Block>, RewriteError> {
        let payload = &frame[FRAME_HEADER_LEN..];
        let mut block = match std::mem::replace(&mut self.state, State::FrameStart) {
            State::Continuation(block) => {
                if header.stream_id != block.stream_id {
                    return Err(RewriteError::Framing("CONTINUATION on another stream"));
                }
                let mut block = block;
                block.fragment.extend_from_slice(payload);
                block
            }
            _ if header.kind == TYPE_CONTINUATION => {
                return Err(RewriteError::Framing("CONTINUATION without HEADERS"));
            }
            _ => Block::from_headers_frame(header, payload)?,
        };
        if block.fragment.len() > MAX_HEADER_BLOCK {
            return Err(RewriteError::TooLarge);
        }
        block.frames += 1;
        if block.frames > MAX_BLOCK_FRAMES {
            return Err(RewriteError::Framing(
                "too many CONTINUATION frames in one header block",
            ));
        }
        block.raw.extend_from_slice(frame);
        if header.flags & FLAG_END_HEADERS != 0 {
            Ok(Some(block))
        } else {
            self.state = State::Continuation(block);
            Ok(None)
        }
    }

    fn finish_block(&mut self, block: Block, out: &mut BytesMut) -> Result<(), RewriteError> {
        if matches!(self.mode, Mode::Undecided) {
            let mut decoder = Box::new(loona_hpack::Decoder::new());
            decoder.set_max_allowed_table_size(HPACK_TABLE_SIZE);
            let headers = decode(&mut decoder, &block.fragment)?;
            if !needs_rewrite(&headers) {
                out.put_slice(&block.raw);
                self.state = State::Passthrough;
                return Ok(());
            }
            let mut encoder = Box::new(loona_hpack::Encoder::new());
            encoder.set_max_table_size(HPACK_TABLE_SIZE);
            self.mode = Mode::Rewrite { decoder, encoder };
            let Mode::Rewrite { encoder, .. } = &mut self.mode else {
                unreachable!("mode was just set");
            };
            emit(&block, &headers, encoder, out);
            return Ok(());
        }
        let Mode::Rewrite { decoder, encoder } = &mut self.mode else {
            unreachable!("undecided mode handled above");
        };
        let headers = decode(decoder, &block.fragment)?;
        emit(&block, &headers, encoder, out);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct FrameHeader {
    len: usize,
    kind: u8,
    flags: u8,
    stream_id: u32,
}

impl FrameHeader {
    fn peek(input: &[u8]) -> Option<Self> {
        let h: &[u8; FRAME_HEADER_LEN] = input.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        Some(Self {
            len: usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream_id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }
}

impl Block {
    fn from_headers_frame(header: FrameHeader, payload: &[u8]) -> Result<Self, RewriteError> {
        let mut body = payload;
        let mut pad = 0usize;
        if header.flags & FLAG_PADDED != 0 {
            let (&n, rest) = body
                .split_first()
                .ok_or(RewriteError::Framing("padded frame without pad length"))?;
            pad = usize::from(n);
            body = rest;
        }
        let mut priority = None;
        if header.flags & FLAG_PRIORITY != 0 {
            let p: [u8; 5] = body
                .get(..5)
                .and_then(|p| p.try_into().ok())
                .ok_or(RewriteError::Framing("priority fields truncated"))?;
            priority = Some(p);
            body = &body[5..];
        }
        if pad > body.len() {
            return Err(RewriteError::Framing("padding longer than payload"));
        }
        Ok(Self {
            stream_id: header.stream_id,
            flags: header.flags,
            priority,
            fragment: body[..body.len() - pad].to_vec(),
            raw: Vec::new(),
            frames: 0,
        })
    }
}

#[cfg(test)]
mod tests;
