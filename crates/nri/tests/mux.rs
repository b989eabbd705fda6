//! Multiplexer framing against a raw peer and between two multiplexers.

mod common;

use std::io::ErrorKind;

use common::within;
use nri::error::MuxError;
use nri::mux::{FrameHeader, HEADER_LEN, MAX_RECV_PAYLOAD, MAX_SEND_PAYLOAD, Mux, encode_frames};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const BUF: usize = 256 * 1024;

/// Reads one frame from the raw side; `None` at end of stream.
async fn read_frame(raw: &mut DuplexStream) -> Option<(FrameHeader, Vec<u8>)> {
    let mut head = [0; HEADER_LEN];
    match raw.read_exact(&mut head).await {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::UnexpectedEof => return None,
        Err(err) => panic!("raw read failed: {err}"),
    }
    let header = FrameHeader::decode(head);
    let mut payload = vec![0; header.len as usize];
    raw.read_exact(&mut payload).await.expect("frame payload");
    Some((header, payload))
}

fn frame(conn: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = FrameHeader {
        conn,
        len: payload.len() as u32,
    }
    .encode()
    .to_vec();
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn two_multiplexers_round_trip_on_both_connections() {
    let (a, b) = tokio::io::duplex(BUF);
    let (_mux_a, [mut a1, mut a2]) = Mux::new(a, [1, 2]).unwrap();
    let (_mux_b, [mut b1, mut b2]) = Mux::new(b, [1, 2]).unwrap();

    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let writer = tokio::spawn(async move {
        a1.write_all(&sent).await.unwrap();
        b2.write_all(b"reply on two").await.unwrap();
        (a1, b2)
    });
    let mut got = vec![0; big.len()];
    within("payload on conn 1", b1.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(got, big);
    let mut reply = [0; 12];
    within("payload on conn 2", a2.read_exact(&mut reply))
        .await
        .unwrap();
    assert_eq!(&reply, b"reply on two");
    within("writer", writer).await.unwrap();
}

#[tokio::test]
async fn sent_frames_carry_at_most_4096_bytes() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (_mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    conn.write_all(&data).await.unwrap();

    let mut sizes = Vec::new();
    let mut joined = Vec::new();
    while joined.len() < data.len() {
        let (header, payload) = within("a frame", read_frame(&mut raw))
            .await
            .expect("frame before end of stream");
        assert_eq!(header.conn, 1);
        assert!(payload.len() <= MAX_SEND_PAYLOAD);
        sizes.push(payload.len());
        joined.extend(payload);
    }
    assert_eq!(joined, data);
    assert_eq!(sizes, [4096, 4096, 1808]);
}

#[tokio::test]
async fn send_frames_splits_payloads_too() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [_conn]) = Mux::new(local, [1]).unwrap();
    mux.send_frames(9, &[7; 5000]).await.unwrap();
    let (h1, p1) = within("frame", read_frame(&mut raw)).await.unwrap();
    let (h2, p2) = within("frame", read_frame(&mut raw)).await.unwrap();
    assert_eq!((h1.conn, p1.len(), h2.conn, p2.len()), (9, 4096, 9, 904));
}

#[tokio::test]
async fn largest_allowed_frame_is_delivered_and_one_more_byte_closes() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    let max = vec![0xab; MAX_RECV_PAYLOAD];
    let mut wire = frame(1, &max);
    wire.extend_from_slice(
        &FrameHeader {
            conn: 1,
            len: MAX_RECV_PAYLOAD as u32 + 1,
        }
        .encode(),
    );
    let writer = tokio::spawn(async move {
        raw.write_all(&wire).await.unwrap();
        raw
    });

    let mut got = vec![0; MAX_RECV_PAYLOAD];
    within("the largest frame", conn.read_exact(&mut got))
        .await
        .unwrap();
    assert!(got == max);
    match within("close", mux.closed()).await {
        MuxError::Oversized { conn: 1, len, max } => {
            assert_eq!(len as usize, MAX_RECV_PAYLOAD + 1);
            assert_eq!(max, MAX_RECV_PAYLOAD);
        }
        other => panic!("expected Oversized, got {other:?}"),
    }
    // The connection ends; nothing after the oversized header is read.
    let mut rest = Vec::new();
    within("end of stream", conn.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty());
    let mut raw = within("writer", writer).await.unwrap();
    // The multiplexer released the stream: the raw side sees its end.
    let mut tail = Vec::new();
    within("raw end of stream", raw.read_to_end(&mut tail))
        .await
        .unwrap();
    assert!(tail.is_empty());
}

#[tokio::test]
async fn frames_for_unknown_and_reserved_ids_are_dropped_and_counted() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    let mut wire = frame(5, b"nobody listens");
    wire.extend(frame(0, b"reserved"));
    wire.extend(frame(1, b"after"));
    raw.write_all(&wire).await.unwrap();

    let mut got = [0; 5];
    within("the frame after", conn.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"after");
    assert_eq!(mux.dropped_frames(), 2);
    assert!(mux.close_reason().is_none());
}

#[tokio::test]
async fn frames_for_a_dropped_connection_are_dropped() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [gone, mut kept]) = Mux::new(local, [1, 2]).unwrap();
    drop(gone);
    let mut wire = frame(1, b"late");
    wire.extend(frame(2, b"ok"));
    raw.write_all(&wire).await.unwrap();
    let mut got = [0; 2];
    within("frame on 2", kept.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"ok");
    assert_eq!(mux.dropped_frames(), 1);
}

#[tokio::test]
async fn truncated_header_closes_with_a_clear_error() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    raw.write_all(&[0, 0, 0, 1, 0]).await.unwrap();
    drop(raw);
    match within("close", mux.closed()).await {
        MuxError::Truncated { expected, got } => assert_eq!((expected, got), (8, 5)),
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert_eq!(conn.read(&mut [0; 8]).await.unwrap(), 0);
}

#[tokio::test]
async fn truncated_payload_closes_with_a_clear_error() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [_conn]) = Mux::new(local, [1]).unwrap();
    let mut wire = FrameHeader { conn: 1, len: 100 }.encode().to_vec();
    wire.extend_from_slice(&[1; 10]);
    raw.write_all(&wire).await.unwrap();
    drop(raw);
    let reason = within("close", mux.closed()).await;
    assert!(
        matches!(
            reason,
            MuxError::Truncated {
                expected: 108,
                got: 18
            }
        ),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("18 of 108"), "{reason}");
}

#[tokio::test]
async fn clean_end_of_stream_ends_connections_and_fails_writes() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    raw.write_all(&frame(1, b"last words")).await.unwrap();
    drop(raw);
    assert!(matches!(
        within("close", mux.closed()).await,
        MuxError::PeerClosed
    ));
    // Data that arrived before the end is still readable, then EOF.
    let mut got = Vec::new();
    within("read to end", conn.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"last words");
    let err = within("write after close", conn.write_all(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert!(matches!(mux.open(3), Err(MuxError::PeerClosed)));
}

#[tokio::test]
async fn local_close_releases_the_stream() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [mut conn]) = Mux::new(local, [1]).unwrap();
    mux.close();
    assert!(matches!(mux.closed().await, MuxError::Closed));
    let mut tail = Vec::new();
    within("raw end of stream", raw.read_to_end(&mut tail))
        .await
        .unwrap();
    assert_eq!(conn.read(&mut [0; 4]).await.unwrap(), 0);
}

#[tokio::test]
async fn dropping_the_last_handle_closes() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [_conn]) = Mux::new(local, [1]).unwrap();
    let clone = mux.clone();
    drop(mux);
    assert!(clone.close_reason().is_none());
    drop(clone);
    let mut tail = Vec::new();
    within("raw end of stream", raw.read_to_end(&mut tail))
        .await
        .unwrap();
}

#[tokio::test]
async fn shutdown_writes_queued_bytes_first() {
    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [_conn]) = Mux::new(local, [1]).unwrap();
    mux.send_raw(encode_frames(1, b"queued")).await.unwrap();
    within("shutdown", mux.shutdown()).await;
    let (header, payload) = within("frame", read_frame(&mut raw)).await.unwrap();
    assert_eq!((header.conn, payload.as_slice()), (1, &b"queued"[..]));
    assert!(within("end", read_frame(&mut raw)).await.is_none());
    assert!(mux.send_raw(vec![1]).await.is_err());
}

#[tokio::test]
async fn connection_ids_are_checked() {
    let (a, _b) = tokio::io::duplex(BUF);
    assert!(matches!(Mux::new(a, [0]), Err(MuxError::ReservedConnId)));
    let (a, _b) = tokio::io::duplex(BUF);
    assert!(matches!(
        Mux::new(a, [1, 1]),
        Err(MuxError::DuplicateConnId(1))
    ));

    let (local, mut raw) = tokio::io::duplex(BUF);
    let (mux, [_one]) = Mux::new(local, [1]).unwrap();
    assert!(matches!(mux.open(1), Err(MuxError::DuplicateConnId(1))));
    assert!(matches!(mux.open(0), Err(MuxError::ReservedConnId)));
    let mut three = mux.open(3).unwrap();
    assert_eq!(three.id(), 3);
    raw.write_all(&frame(3, b"hi")).await.unwrap();
    let mut got = [0; 2];
    within("frame on 3", three.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"hi");
}
