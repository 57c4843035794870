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

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::outbox::Outbox;

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

type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

fn decode(
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

fn needs_rewrite(headers: &HeaderList) -> bool {
    headers
        .iter()
        .any(|(name, value)| name == b":authority" && !authority_is_valid(value))
}

/// Re-encodes `headers` (with a repaired authority) as HEADERS + CONTINUATION frames.
fn emit(
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

fn put_frame(out: &mut BytesMut, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
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

/// A connection whose incoming HTTP/2 header blocks pass through a [`Rewriter`], and whose
/// written bytes release the charges of its [`Outbox`].
#[derive(Debug)]
pub struct AuthorityRepair<S> {
    inner: S,
    rewriter: Rewriter,
    input: BytesMut,
    output: BytesMut,
    outbox: Arc<Outbox>,
}

impl<S> AuthorityRepair<S> {
    /// Wraps a freshly accepted server-side connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewriter: Rewriter::new(),
            input: BytesMut::with_capacity(8 * 1024),
            output: BytesMut::new(),
            outbox: Outbox::new(),
        }
    }
}

/// What a handler learns about its connection (from the request's extensions): the inner
/// stream's information and the connection's [`Outbox`].
#[derive(Debug, Clone)]
pub struct RepairedConnectInfo<T> {
    /// The wrapped stream's connect information.
    pub inner: T,
    /// Where a handler leaves the charge of a response until its bytes are written.
    pub outbox: Arc<Outbox>,
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityRepair<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output[..n]);
                this.output.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.rewriter.is_passthrough() && this.input.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            this.rewriter
                .feed(&mut this.input, &mut this.output)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if !this.output.is_empty() {
                continue;
            }
            let mut scratch = [0u8; 8 * 1024];
            let mut read = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.input.extend_from_slice(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityRepair<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.outbox.written(written);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.outbox.written(written);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected
    for AuthorityRepair<S>
{
    type ConnectInfo = RepairedConnectInfo<S::ConnectInfo>;

    fn connect_info(&self) -> Self::ConnectInfo {
        RepairedConnectInfo {
            inner: self.inner.connect_info(),
            outbox: self.outbox.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
