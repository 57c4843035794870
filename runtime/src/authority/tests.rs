//! Tests for the `:authority` rewriter: frames built with an independent HPACK encoder.

use super::*;

const SOCKET_PATH: &[u8] = b"/var/run/secrets-store-csi-providers/keywarden.sock";

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_frame(&mut out, kind, flags, stream_id, payload);
    out.to_vec()
}

fn request_headers(authority: &[u8]) -> Vec<(&'static [u8], Vec<u8>)> {
    vec![
        (b":method", b"POST".to_vec()),
        (b":scheme", b"http".to_vec()),
        (b":path", b"/v1alpha1.CSIDriverProvider/Mount".to_vec()),
        (b":authority", authority.to_vec()),
        (b"content-type", b"application/grpc".to_vec()),
        (b"te", b"trailers".to_vec()),
    ]
}

fn encode(
    encoder: &mut loona_hpack::Encoder<'static>,
    headers: &[(&'static [u8], Vec<u8>)],
) -> Vec<u8> {
    encoder.encode(headers.iter().map(|(n, v)| (*n, v.as_slice())))
}

/// Splits the rewriter's output into (preface, frames) and decodes every header block with a
/// fresh decoder standing in for h2.
fn decode_output(out: &[u8]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    assert_eq!(&out[..PREFACE.len()], PREFACE, "preface forwarded first");
    let mut rest = &out[PREFACE.len()..];
    let mut decoder = loona_hpack::Decoder::new();
    let mut blocks = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    while !rest.is_empty() {
        let h = FrameHeader::peek(rest).expect("whole frame header");
        let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + h.len];
        if h.kind == TYPE_HEADERS || h.kind == TYPE_CONTINUATION {
            let mut body = payload;
            if h.kind == TYPE_HEADERS && h.flags & FLAG_PRIORITY != 0 {
                body = &body[5..];
            }
            assert_eq!(h.flags & FLAG_PADDED, 0, "no padding is emitted");
            pending.extend_from_slice(body);
            if h.flags & FLAG_END_HEADERS != 0 {
                blocks.push(decode(&mut decoder, &pending).expect("h2 side decodes"));
                pending.clear();
            }
        }
        rest = &rest[FRAME_HEADER_LEN + h.len..];
    }
    blocks
}

fn authority_of(block: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    block
        .iter()
        .find(|(n, _)| n == b":authority")
        .map(|(_, v)| v.clone())
        .expect(":authority present")
}

fn run(input: &[u8], chunk: usize) -> (Vec<u8>, Rewriter) {
    let mut rewriter = Rewriter::new();
    let mut pending = BytesMut::new();
    let mut out = BytesMut::new();
    for piece in input.chunks(chunk) {
        pending.extend_from_slice(piece);
        rewriter.feed(&mut pending, &mut out).expect("valid input");
    }
    assert!(pending.is_empty(), "every byte consumed");
    (out.to_vec(), rewriter)
}

fn connection(authority: &[u8], requests: usize) -> Vec<u8> {
    let mut encoder = loona_hpack::Encoder::new();
    let mut input = PREFACE.to_vec();
    input.extend(frame(0x4, 0, 0, &[])); // SETTINGS
    for i in 0..requests {
        let stream = 1 + 2 * i as u32;
        let block = encode(&mut encoder, &request_headers(authority));
        input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, stream, &block));
        input.extend(frame(0x0, FLAG_END_STREAM, stream, b"\0\0\0\0\0"));
    }
    input
}

#[test]
fn socket_path_authority_becomes_localhost_on_every_request() {
    // The client's encoder indexes the bad authority on the first request and refers to it
    // by index afterwards: the rewriter must track that table to repair later requests.
    let input = connection(SOCKET_PATH, 3);
    for chunk in [1, 7, 64, input.len()] {
        let (out, rewriter) = run(&input, chunk);
        assert!(!rewriter.is_passthrough());
        let blocks = decode_output(&out);
        assert_eq!(blocks.len(), 3);
        for block in &blocks {
            assert_eq!(authority_of(block), b"localhost");
            assert_eq!(block.len(), 6, "other headers kept");
        }
    }
}

#[test]
fn valid_authority_is_forwarded_byte_for_byte() {
    let input = connection(b"localhost", 2);
    let (out, rewriter) = run(&input, 5);
    assert!(rewriter.is_passthrough());
    assert_eq!(out, input);
}

#[test]
fn padding_is_dropped_and_priority_kept() {
    let mut encoder = loona_hpack::Encoder::new();
    let block = encode(&mut encoder, &request_headers(SOCKET_PATH));
    let mut payload = vec![3u8]; // pad length
    payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
    payload.extend_from_slice(&block);
    payload.extend_from_slice(&[0, 0, 0]);
    let mut input = PREFACE.to_vec();
    input.extend(frame(
        TYPE_HEADERS,
        FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY | FLAG_END_STREAM,
        1,
        &payload,
    ));
    let (out, _) = run(&input, 3);
    let h = FrameHeader::peek(&out[PREFACE.len()..]).expect("frame");
    assert_eq!(h.flags, FLAG_END_HEADERS | FLAG_PRIORITY | FLAG_END_STREAM);
    assert_eq!(
        &out[PREFACE.len() + FRAME_HEADER_LEN..][..5],
        &[0, 0, 0, 0, 16]
    );
    assert_eq!(authority_of(&decode_output(&out)[0]), b"localhost");
}

#[test]
fn continuation_frames_are_joined() {
    let mut encoder = loona_hpack::Encoder::new();
    let block = encode(&mut encoder, &request_headers(SOCKET_PATH));
    let (a, b) = block.split_at(block.len() / 2);
    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, 0, 1, a));
    input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, b));
    let (out, _) = run(&input, 4);
    assert_eq!(authority_of(&decode_output(&out)[0]), b"localhost");
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let cases: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [
            PREFACE.as_slice(),
            &frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, b"x"),
        ]
        .concat(),
        [
            PREFACE.as_slice(),
            &frame(TYPE_HEADERS, FLAG_END_HEADERS | FLAG_PADDED, 1, &[9]),
        ]
        .concat(),
        [
            PREFACE.as_slice(),
            &frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &[0xff, 0xff, 0xff]),
        ]
        .concat(),
        [
            PREFACE.as_slice(),
            &frame(TYPE_HEADERS, 0, 1, b""),
            &frame(0x0, 0, 1, b""),
        ]
        .concat(),
    ];
    for case in cases {
        let mut rewriter = Rewriter::new();
        let mut input = BytesMut::from(case.as_slice());
        let mut out = BytesMut::new();
        assert!(rewriter.feed(&mut input, &mut out).is_err(), "{case:?}");
    }
}

/// A header block that never ends: empty CONTINUATION frames add nothing to the block, so only
/// a count of frames stops them (each one used to cost 9 kept bytes, without limit).
#[test]
fn a_flood_of_empty_continuations_is_refused() {
    let mut rewriter = Rewriter::new();
    let mut out = BytesMut::new();
    let mut input = BytesMut::from(
        [PREFACE.as_slice(), &frame(TYPE_HEADERS, 0, 1, b"")]
            .concat()
            .as_slice(),
    );
    let empty = frame(TYPE_CONTINUATION, 0, 1, b"");
    let mut refused = None;
    for sent in 1..=100_000 {
        input.extend_from_slice(&empty);
        if let Err(e) = rewriter.feed(&mut input, &mut out) {
            refused = Some((sent, e));
            break;
        }
    }
    let (sent, e) = refused.expect("the flood is refused");
    assert_eq!(
        sent, MAX_BLOCK_FRAMES,
        "refused at the first frame over the count"
    );
    assert!(e.to_string().contains("CONTINUATION"), "{e}");
}

/// HPACK integer with a 7-bit prefix (RFC 7541 §5.1), for hand-built blocks.
fn hpack_int7(first: u8, mut value: usize) -> Vec<u8> {
    if value < 127 {
        return vec![first | value as u8];
    }
    let mut out = vec![first | 127];
    value -= 127;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
    out
}

#[test]
fn an_hpack_expansion_is_refused_before_it_is_copied() {
    // One 4000-byte field added to the dynamic table, then named 10,000 times by index: a
    // 14 KB block that decodes into about 40 MB.
    let mut block = vec![0x40];
    block.extend(hpack_int7(0, 6));
    block.extend_from_slice(b"x-bomb");
    block.extend(hpack_int7(0, 4000));
    block.extend(std::iter::repeat_n(b'x', 4000));
    block.extend(std::iter::repeat_n(0x80 | 62, 10_000));
    let mut independent = loona_hpack::Decoder::new();
    let mut expanded = 0usize;
    independent
        .decode_with_cb(&block, |n, v| expanded += n.len() + v.len())
        .expect("a valid block");
    assert!(
        expanded > 40_000_000,
        "the block really expands: {expanded}"
    );

    let input = [
        PREFACE.as_slice(),
        &frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block),
    ]
    .concat();
    let mut rewriter = Rewriter::new();
    let err = rewriter
        .feed(&mut BytesMut::from(input.as_slice()), &mut BytesMut::new())
        .expect_err("refused");
    assert!(matches!(err, RewriteError::ListTooLarge), "{err}");
}

#[tokio::test]
async fn async_wrapper_delivers_rewritten_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let input = connection(SOCKET_PATH, 2);
    let (mut client, server) = tokio::io::duplex(64);
    let writer = tokio::spawn({
        let input = input.clone();
        async move {
            client.write_all(&input).await.expect("write");
            client.shutdown().await.expect("shutdown");
        }
    });
    let mut repaired = AuthorityRepair::new(server);
    let mut out = Vec::new();
    repaired.read_to_end(&mut out).await.expect("read");
    writer.await.expect("writer");
    let blocks = decode_output(&out);
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| authority_of(b) == b"localhost"));
}
