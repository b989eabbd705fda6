//! Misbehaving peers: every case ends with a typed error and a closed
//! connection (or, for unknown connection ids, a dropped frame), never a
//! panic or a hang.

mod common;

use std::time::Duration;

use common::*;
use nri::error::{MuxError, StubError};
use nri::mux::{FrameHeader, MAX_RECV_PAYLOAD, Mux, MuxConn};
use nri::testing::{PeerConfig, PeerError, PluginConnection};
use nri::{Event, EventMask};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A connected plugin without reconnects, so its runner returns the error.
async fn connected(peer: PeerConfig) -> (Setup, Running, PluginConnection) {
    let setup = Setup::new(peer);
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(
        plugin,
        seen,
        plugin_config(setup.socket()).with_reconnect(None),
    );
    let conn = within("handshake", setup.runtime.accept()).await.unwrap();
    expect_configure(&mut running).await;
    (setup, running, conn)
}

async fn expect_lost(running: &mut Running) -> MuxError {
    match running.next().await {
        Seen::Lost {
            mux: Some(reason), ..
        } => reason,
        other => panic!("expected a lost connection, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_frame_closes_the_plugin_connection() {
    let (_setup, mut running, conn) = connected(v08_peer()).await;
    let header = FrameHeader {
        conn: 1,
        len: MAX_RECV_PAYLOAD as u32 + 1,
    };
    conn.inject_raw(header.encode().to_vec()).await.unwrap();

    let reason = expect_lost(&mut running).await;
    assert!(
        matches!(reason, MuxError::Oversized { conn: 1, len, .. } if len as usize == MAX_RECV_PAYLOAD + 1),
        "{reason:?}"
    );
    assert!(matches!(
        within("peer sees the close", conn.closed()).await,
        MuxError::PeerClosed
    ));
    match running.finished().await {
        Err(StubError::ConnectionClosed(MuxError::Oversized { .. })) => {}
        other => panic!("expected Oversized, got {other:?}"),
    }
}

#[tokio::test]
async fn frame_cut_off_by_end_of_stream_is_reported() {
    let (_setup, mut running, conn) = connected(v08_peer()).await;
    let mut bytes = FrameHeader { conn: 1, len: 100 }.encode().to_vec();
    bytes.extend_from_slice(&[0; 10]);
    conn.inject_raw(bytes).await.unwrap();
    within("peer shutdown", conn.mux().shutdown()).await;

    let reason = expect_lost(&mut running).await;
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
    assert!(matches!(
        running.finished().await,
        Err(StubError::ConnectionClosed(MuxError::Truncated { .. }))
    ));
}

#[tokio::test]
async fn frames_for_unknown_connections_are_dropped_and_the_plugin_carries_on() {
    let (_setup, mut running, conn) = connected(v08_peer()).await;
    conn.mux().send_frames(7, b"for nobody").await.unwrap();
    conn.mux().send_frames(0, b"reserved").await.unwrap();
    conn.event(Event::RunPodSandbox, &pod("p"), None)
        .await
        .unwrap();
    expect_event(&mut running, Event::RunPodSandbox, "p", None).await;
    assert!(conn.mux().close_reason().is_none());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn garbage_request_gets_an_error_answer() {
    let (_setup, mut running, conn) = connected(v08_peer()).await;
    for method in ["Synchronize", "StateChange", "CreateContainer"] {
        match conn.call_raw(method, vec![0xff; 16]).await {
            Err(PeerError::Rpc { code, message, .. }) => {
                assert_ne!(code, ttrpc::Code::OK);
                assert!(message.contains("Unpack"), "{method}: {message}");
            }
            other => panic!("{method}: expected an error status, got {other:?}"),
        }
    }
    // Nothing reached the plugin, which still works.
    assert!(running.nothing_pending());
    conn.event(Event::RunPodSandbox, &pod("p"), None)
        .await
        .unwrap();
    expect_event(&mut running, Event::RunPodSandbox, "p", None).await;
    running.stop().await.unwrap();
}

/// The runtime side done by hand: accepts one plugin and returns the
/// multiplexed connections.
async fn raw_runtime(listener: &tokio::net::UnixListener) -> (Mux, MuxConn, MuxConn) {
    let (stream, _) = within("accept", listener.accept()).await.unwrap();
    let (mux, [plugin_conn, runtime_conn]) = Mux::new(stream, [1, 2]).unwrap();
    (mux, plugin_conn, runtime_conn)
}

/// Reads one ttrpc message (10-byte header: length, stream id, type,
/// flags); returns its stream id and type.
async fn read_ttrpc(conn: &mut MuxConn) -> (u32, u8) {
    let mut head = [0; 10];
    within("ttrpc header", conn.read_exact(&mut head))
        .await
        .unwrap();
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let stream = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let mut body = vec![0; len as usize];
    within("ttrpc body", conn.read_exact(&mut body))
        .await
        .unwrap();
    (stream, head[8])
}

async fn write_ttrpc_response(conn: &mut MuxConn, stream: u32, payload: &[u8]) {
    let mut msg = (payload.len() as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&stream.to_be_bytes());
    msg.extend_from_slice(&[2, 0]); // response, no flags
    msg.extend_from_slice(payload);
    conn.write_all(&msg).await.unwrap();
}

fn bind_raw() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    tokio::net::UnixListener,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    (dir, path, listener)
}

#[tokio::test]
async fn garbage_answer_to_register_plugin_fails_registration() {
    let (_dir, path, listener) = bind_raw();
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running = start(plugin, seen, plugin_config(&path).with_reconnect(None));
    let (_mux, _plugin_conn, mut runtime_conn) = raw_runtime(&listener).await;

    let (stream, kind) = read_ttrpc(&mut runtime_conn).await;
    assert_eq!((stream, kind), (1, 1), "first request on a fresh client");
    write_ttrpc_response(&mut runtime_conn, stream, &[0xff; 12]).await;

    match running.finished().await {
        Err(StubError::Register(err)) => {
            assert!(err.to_string().contains("Unpack"), "{err}");
        }
        other => panic!("expected a registration error, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_vanishing_during_register_plugin_ends_the_session() {
    let (_dir, path, listener) = bind_raw();
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running = start(plugin, seen, plugin_config(&path).with_reconnect(None));
    let (mux, plugin_conn, mut runtime_conn) = raw_runtime(&listener).await;
    read_ttrpc(&mut runtime_conn).await;
    drop((mux, plugin_conn, runtime_conn));

    match running.finished().await {
        Err(StubError::ConnectionClosed(MuxError::PeerClosed) | StubError::Register(_)) => {}
        other => panic!("expected the lost connection, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_that_never_configures_is_left() {
    let (_dir, path, listener) = bind_raw();
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running = start(
        plugin,
        seen,
        plugin_config(&path)
            .with_reconnect(None)
            .with_registration_timeout(Duration::from_millis(200)),
    );
    let (mux, _plugin_conn, mut runtime_conn) = raw_runtime(&listener).await;
    let (stream, _) = read_ttrpc(&mut runtime_conn).await;
    // An empty response is a valid OK answer carrying an empty message.
    write_ttrpc_response(&mut runtime_conn, stream, &[]).await;

    match running.finished().await {
        Err(StubError::NotConfigured(timeout)) => assert_eq!(timeout, Duration::from_millis(200)),
        other => panic!("expected NotConfigured, got {other:?}"),
    }
    assert!(matches!(
        within("close", mux.closed()).await,
        MuxError::PeerClosed
    ));
}

#[tokio::test]
async fn runtime_that_never_answers_register_plugin_times_out() {
    let (_dir, path, listener) = bind_raw();
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running = start(
        plugin,
        seen,
        plugin_config(&path)
            .with_reconnect(None)
            .with_registration_timeout(Duration::from_millis(200)),
    );
    let (_mux, _plugin_conn, mut runtime_conn) = raw_runtime(&listener).await;
    read_ttrpc(&mut runtime_conn).await;
    assert!(matches!(
        running.finished().await,
        Err(StubError::RegistrationTimeout(_))
    ));
}

#[tokio::test]
async fn plugin_vanishing_while_its_handler_hangs_fails_the_call() {
    let setup = Setup::new(PeerConfig {
        request_timeout: LIMIT,
        ..v08_peer()
    });
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(
        plugin.hanging_on(Event::StartContainer),
        seen,
        plugin_config(setup.socket()).with_reconnect(None),
    );
    let conn = within("handshake", setup.runtime.accept()).await.unwrap();
    expect_configure(&mut running).await;

    let (p, c) = (pod("p"), container("c", "p"));
    let call = conn.event(Event::StartContainer, &p, Some(&c));
    let stop = running.stop.clone();
    let stopper = async {
        expect_event(&mut running, Event::StartContainer, "p", Some("c")).await;
        stop.shutdown();
    };
    let (result, ()) = within("call and stop", async { tokio::join!(call, stopper) }).await;
    match result {
        // containerd 2.1 delivers StartContainer through StateChange.
        Err(PeerError::Disconnected { method, .. }) => assert_eq!(method, "StateChange"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    running.finished().await.unwrap();
}

#[tokio::test]
async fn plugin_that_never_registers_times_out_on_the_peer() {
    let (_silent, runtime_end) = UnixStream::pair().unwrap();
    let err = within(
        "handshake",
        PluginConnection::handshake(
            runtime_end,
            PeerConfig {
                registration_timeout: Duration::from_millis(100),
                ..v08_peer()
            },
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PeerError::RegistrationTimeout(_)), "{err}");
}

#[tokio::test]
async fn plugin_with_an_invalid_index_is_rejected_by_the_peer() {
    let (plugin_end, runtime_end) = UnixStream::pair().unwrap();
    let peer = tokio::spawn(PluginConnection::handshake(runtime_end, v08_peer()));
    // Register by hand with a one-digit index (the stub refuses to).
    let (mux, [_c1, mut c2]) = Mux::new(plugin_end, [1, 2]).unwrap();
    let request = nri::proto::nri::RegisterPluginRequest {
        plugin_name: "bad".into(),
        plugin_idx: "7".into(),
        ..Default::default()
    };
    let envelope = ttrpc::Request {
        service: "nri.pkg.api.v1alpha1.Runtime".into(),
        method: "RegisterPlugin".into(),
        payload: protobuf::Message::write_to_bytes(&request).unwrap(),
        ..Default::default()
    };
    let body = protobuf::Message::write_to_bytes(&envelope).unwrap();
    let mut msg = (body.len() as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&1u32.to_be_bytes());
    msg.extend_from_slice(&[1, 0]); // request, no flags
    msg.extend_from_slice(&body);
    c2.write_all(&msg).await.unwrap();

    let err = within("peer", peer).await.unwrap().unwrap_err();
    match err {
        PeerError::RegistrationRejected(message) => {
            assert!(message.contains("two digits"), "{message}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Like containerd, the peer then closes the connection.
    assert!(matches!(
        within("close", mux.closed()).await,
        MuxError::PeerClosed
    ));
}

/// Writes a ttrpc request for `method` of the plugin service.
async fn write_ttrpc_request(conn: &mut MuxConn, stream: u32, method: &str, payload: Vec<u8>) {
    let envelope = ttrpc::Request {
        service: nri::testing::PLUGIN_SERVICE.into(),
        method: method.into(),
        payload,
        ..Default::default()
    };
    let body = protobuf::Message::write_to_bytes(&envelope).unwrap();
    let mut msg = (body.len() as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&stream.to_be_bytes());
    msg.extend_from_slice(&[1, 0]); // request, no flags
    msg.extend_from_slice(&body);
    conn.write_all(&msg).await.unwrap();
}

/// Reads a ttrpc response and returns its stream id and payload, failing
/// on an error status.
async fn read_ttrpc_response(conn: &mut MuxConn) -> (u32, Vec<u8>) {
    let mut head = [0; 10];
    within("response header", conn.read_exact(&mut head))
        .await
        .unwrap();
    assert_eq!(head[8], 2, "a response");
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let stream = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let mut body = vec![0; len as usize];
    within("response body", conn.read_exact(&mut body))
        .await
        .unwrap();
    let response: ttrpc::Response = protobuf::Message::parse_from_bytes(&body).unwrap();
    assert_eq!(response.status().code(), ttrpc::Code::OK, "{response:?}");
    (stream, response.payload)
}

#[tokio::test]
async fn configure_may_arrive_before_register_plugin_returns() {
    use nri::proto::nri as pb;
    use protobuf::Message as _;

    let (_dir, path, listener) = bind_raw();
    let (plugin, seen) = Recorder::new(Event::StartContainer.into());
    let mut running = start(plugin, seen, plugin_config(&path).with_reconnect(None));
    let (mux, mut plugin_conn, mut runtime_conn) = raw_runtime(&listener).await;

    // Hold the RegisterPlugin answer back until Configure is done.
    let (register_stream, _) = read_ttrpc(&mut runtime_conn).await;
    let configure = pb::ConfigureRequest {
        runtime_name: "raw".into(),
        request_timeout: 2000,
        ..Default::default()
    };
    write_ttrpc_request(
        &mut plugin_conn,
        1,
        "Configure",
        configure.write_to_bytes().unwrap(),
    )
    .await;
    let (stream, payload) = read_ttrpc_response(&mut plugin_conn).await;
    assert_eq!(stream, 1);
    let reply = pb::ConfigureResponse::parse_from_bytes(&payload).unwrap();
    assert_eq!(reply.events as u32, Event::StartContainer.bit());
    assert!(matches!(running.next().await, Seen::Configure(info) if info.runtime_name == "raw"));

    write_ttrpc_response(&mut runtime_conn, register_stream, &[]).await;
    // Registered and configured: the plugin now serves Synchronize.
    let sync = pb::SynchronizeRequest {
        pods: vec![pod("p")],
        ..Default::default()
    };
    write_ttrpc_request(
        &mut plugin_conn,
        3,
        "Synchronize",
        sync.write_to_bytes().unwrap(),
    )
    .await;
    let (stream, _) = read_ttrpc_response(&mut plugin_conn).await;
    assert_eq!(stream, 3);
    assert!(matches!(running.next().await, Seen::Sync { pods, .. } if pods == ["p"]));

    drop((mux, plugin_conn, runtime_conn));
    assert!(matches!(running.next().await, Seen::Lost { .. }));
    assert!(matches!(
        running.finished().await,
        Err(StubError::ConnectionClosed(MuxError::PeerClosed))
    ));
}
