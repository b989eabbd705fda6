//! The plugin stub against the test peer: registration, configuration,
//! synchronization, event delivery, timeouts, reconnects, shutdown.

mod common;

use std::os::fd::IntoRawFd;
use std::time::Duration;

use common::*;
use nri::error::{MuxError, StubError};
use nri::proto::nri as pb;
use nri::stub::PluginConfig;
use nri::testing::{Delivery, PeerConfig, PeerError, PluginConnection, RuntimeMode};
use nri::{Event, EventMask};
use protobuf::{EnumOrUnknown, MessageField};
use ttrpc::Code;

async fn accept(setup: &Setup) -> PluginConnection {
    within("the plugin to connect", setup.runtime.accept())
        .await
        .expect("handshake")
}

#[tokio::test]
async fn registers_and_reports_runtime_info() {
    let setup = Setup::new(PeerConfig {
        plugin_config: "answer = 42".into(),
        ..v08_peer()
    });
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(setup.socket()));

    let conn = accept(&setup).await;
    assert_eq!(conn.registration().name, "recorder");
    assert_eq!(conn.registration().idx, "42");
    let info = expect_configure(&mut running).await;
    assert_eq!(info.runtime_name, "containerd");
    assert_eq!(info.runtime_version, "v2.1.9");
    assert_eq!(info.nri_version, "");
    assert_eq!(info.config, "answer = 42");
    assert_eq!(info.registration_timeout, Some(Duration::from_secs(5)));
    assert_eq!(info.request_timeout, Some(Duration::from_secs(5)));
    assert_eq!(conn.raw_events(), 0x7ff);

    running.stop().await.expect("clean shutdown");
    assert!(matches!(
        within("plugin side close", conn.closed()).await,
        MuxError::PeerClosed
    ));
}

#[tokio::test]
async fn subscription_is_trimmed_to_what_the_runtime_accepts() {
    let asked = EventMask::EMPTY | Event::StartContainer | Event::UpdatePodSandbox;

    // containerd 2.1 would drop a plugin asking for UpdatePodSandbox.
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(asked);
    let running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    assert_eq!(conn.events(), Event::StartContainer.into());
    running.stop().await.unwrap();

    let setup = Setup::new(v12_peer());
    let (plugin, seen) = Recorder::new(asked);
    let running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    assert_eq!(conn.events(), asked);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn empty_mask_is_never_sent_as_zero() {
    for (peer, expected) in [
        (v08_peer(), EventMask::NRI_V0_8),
        (v12_peer(), EventMask::SERVED_BY_STUB),
    ] {
        let setup = Setup::new(peer);
        let (plugin, seen) = Recorder::new(EventMask::EMPTY);
        let running = start(plugin, seen, plugin_config(setup.socket()));
        let conn = accept(&setup).await;
        assert_eq!(conn.raw_events() as u32, expected.bits());
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn subscribing_to_nothing_supported_fails_configuration() {
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(Event::UpdatePodSandbox.into());
    let running = start(
        plugin,
        seen,
        plugin_config(setup.socket()).with_reconnect(None),
    );
    let err = within("handshake", setup.runtime.accept())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PeerError::Rpc { method, .. } if method == "Configure"),
        "{err}"
    );
    match running.finished().await {
        Err(StubError::Configure(message)) => {
            assert!(message.contains("UpdatePodSandbox"), "{message}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn synchronize_in_one_message() {
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;

    let pods = vec![pod("p1"), pod("p2")];
    let containers = vec![container("c1", "p1"), container("c2", "p2")];
    let updates = within("sync", conn.synchronize(pods, containers))
        .await
        .unwrap();
    assert!(updates.is_empty());
    match running.next().await {
        Seen::Sync { pods, containers } => {
            assert_eq!(pods, ["p1", "p2"]);
            assert_eq!(containers, ["c1", "c2"]);
        }
        other => panic!("expected Sync, got {other:?}"),
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn split_synchronize_is_delivered_once_and_complete() {
    let setup = Setup::new(PeerConfig {
        sync_chunk_size: Some(2),
        ..v08_peer()
    });
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;

    let pods: Vec<_> = (1..=3).map(|i| pod(&format!("p{i}"))).collect();
    let containers: Vec<_> = (1..=5).map(|i| container(&format!("c{i}"), "p1")).collect();
    // Three messages; the peer fails if a non-final one is answered wrongly.
    within("split sync", conn.synchronize(pods, containers))
        .await
        .unwrap();
    match running.next().await {
        Seen::Sync { pods, containers } => {
            assert_eq!(pods, ["p1", "p2", "p3"]);
            assert_eq!(containers, ["c1", "c2", "c3", "c4", "c5"]);
        }
        other => panic!("expected one Sync, got {other:?}"),
    }
    // A second synchronization (e.g. after a reconnect) starts afresh.
    within("empty sync", conn.synchronize(vec![], vec![]))
        .await
        .unwrap();
    assert!(
        matches!(running.next().await, Seen::Sync { pods, containers } if pods.is_empty() && containers.is_empty())
    );
    running.stop().await.unwrap();
}

/// Sends every event `mode` knows and checks delivery and what the plugin
/// saw.
async fn deliver_all(peer: PeerConfig, config: PluginConfig, expected: &[(Event, Delivery)]) {
    let setup = Setup::new(peer);
    let (plugin, seen) = Recorder::new(EventMask::SERVED_BY_STUB);
    let mut running = start(plugin, seen, config.with_socket_path(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;

    let p = pod("pod-a");
    let c = container("ctr-a", "pod-a");
    for &(event, delivery) in expected {
        let got = within(event.name(), conn.event(event, &p, Some(&c)))
            .await
            .unwrap_or_else(|err| panic!("{event}: {err}"));
        assert_eq!(got, delivery, "{event}");
        if delivery != Delivery::NotSubscribed {
            let ctr = (!event.is_pod_event()).then_some("ctr-a");
            expect_event(&mut running, event, "pod-a", ctr).await;
        }
    }
    assert!(running.nothing_pending());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn every_event_arrives_through_state_change_like_containerd_2_1() {
    use Delivery::*;
    use Event::*;
    deliver_all(
        v08_peer(),
        plugin_config("unused"),
        &[
            (RunPodSandbox, StateChange),
            (CreateContainer, Method),
            (PostCreateContainer, StateChange),
            (StartContainer, StateChange),
            (PostStartContainer, StateChange),
            (UpdateContainer, Method),
            (PostUpdateContainer, StateChange),
            (StopContainer, Method),
            (RemoveContainer, StateChange),
            (StopPodSandbox, StateChange),
            (RemovePodSandbox, StateChange),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_event_arrives_through_its_own_method_on_newer_runtimes() {
    use Delivery::*;
    use Event::*;
    deliver_all(
        v12_peer(),
        plugin_config("unused"),
        &[
            (RunPodSandbox, Method),
            (UpdatePodSandbox, Method),
            (PostUpdatePodSandbox, Method),
            (CreateContainer, Method),
            (PostCreateContainer, Method),
            (StartContainer, Method),
            (PostStartContainer, Method),
            (UpdateContainer, Method),
            (PostUpdateContainer, Method),
            (StopContainer, Method),
            (RemoveContainer, Method),
            (StopPodSandbox, Method),
            (RemovePodSandbox, Method),
        ],
    )
    .await;
}

#[tokio::test]
async fn unimplemented_per_event_methods_fall_back_to_state_change() {
    use Delivery::*;
    use Event::*;
    // A plugin serving only nri v0.8 methods answers UNIMPLEMENTED for the
    // per-event ones; the runtime then uses StateChange.
    deliver_all(
        v12_peer(),
        plugin_config("unused").legacy_event_methods_only(true),
        &[
            (RunPodSandbox, FallbackToStateChange),
            (PostUpdatePodSandbox, FallbackToStateChange),
            (CreateContainer, Method),
            (PostCreateContainer, FallbackToStateChange),
            (StartContainer, FallbackToStateChange),
            (PostStartContainer, FallbackToStateChange),
            (UpdateContainer, Method),
            (PostUpdateContainer, FallbackToStateChange),
            (StopContainer, Method),
            (RemoveContainer, FallbackToStateChange),
            (StopPodSandbox, FallbackToStateChange),
            (RemovePodSandbox, FallbackToStateChange),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_and_unserved_methods_answer_unimplemented() {
    let setup = Setup::new(v12_peer());
    let (plugin, seen) = Recorder::new(EventMask::SERVED_BY_STUB);
    let running = start(
        plugin,
        seen,
        plugin_config(setup.socket()).legacy_event_methods_only(true),
    );
    let conn = accept(&setup).await;

    for method in [
        "Frobnicate",
        "ValidateContainerAdjustment",
        "StartContainer",
    ] {
        match within(method, conn.call_raw(method, Vec::new())).await {
            Err(PeerError::Rpc { code, .. }) => assert_eq!(code, Code::UNIMPLEMENTED, "{method}"),
            other => panic!("{method}: expected UNIMPLEMENTED, got {other:?}"),
        }
    }
    // UpdatePodSandbox has no StateChange fallback.
    let err = conn
        .event(Event::UpdatePodSandbox, &pod("p"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PeerError::Rpc {
                code: Code::UNIMPLEMENTED,
                ..
            }
        ),
        "{err}"
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn validation_is_not_served_even_in_full_mode() {
    let setup = Setup::new(v12_peer());
    let (plugin, seen) = Recorder::new(EventMask::SERVED_BY_STUB);
    let running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    match conn
        .call_raw("ValidateContainerAdjustment", Vec::new())
        .await
    {
        Err(PeerError::Rpc { code, .. }) => assert_eq!(code, Code::UNIMPLEMENTED),
        other => panic!("expected UNIMPLEMENTED, got {other:?}"),
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn events_not_subscribed_are_not_sent() {
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(Event::StartContainer.into());
    let mut running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;
    let (p, c) = (pod("p"), container("c", "p"));
    assert_eq!(
        conn.event(Event::RunPodSandbox, &p, None).await.unwrap(),
        Delivery::NotSubscribed
    );
    assert_eq!(
        conn.event(Event::StartContainer, &p, Some(&c))
            .await
            .unwrap(),
        Delivery::StateChange
    );
    // Calls are sequential, so the first thing seen is the subscribed one.
    expect_event(&mut running, Event::StartContainer, "p", Some("c")).await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn handler_errors_reach_the_runtime_and_the_plugin_stays_connected() {
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(
        plugin.failing_on(Event::CreateContainer),
        seen,
        plugin_config(setup.socket()),
    );
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;
    let (p, c) = (pod("p"), container("c", "p"));
    match conn.event(Event::CreateContainer, &p, Some(&c)).await {
        Err(PeerError::Rpc { code, message, .. }) => {
            assert_eq!(code, Code::UNKNOWN);
            assert!(message.contains("refused by test"), "{message}");
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }
    expect_event(&mut running, Event::CreateContainer, "p", Some("c")).await;
    conn.event(Event::StartContainer, &p, Some(&c))
        .await
        .unwrap();
    expect_event(&mut running, Event::StartContainer, "p", Some("c")).await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_events_are_answered_without_reaching_the_plugin() {
    let setup = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;

    // An event value this stub does not know: ignored, answered OK.
    let unknown = pb::StateChangeEvent {
        event: EnumOrUnknown::from_i32(99),
        pod: MessageField::some(pod("p")),
        ..Default::default()
    };
    let _: pb::Empty = conn.call("StateChange", &unknown).await.unwrap();
    // A container event without a container.
    let no_container = pb::StateChangeEvent {
        event: Event::StartContainer.to_proto().into(),
        pod: MessageField::some(pod("p")),
        ..Default::default()
    };
    let err = conn
        .call::<_, pb::Empty>("StateChange", &no_container)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PeerError::Rpc {
                code: Code::INVALID_ARGUMENT,
                ..
            }
        ),
        "{err}"
    );
    // A pod event without a pod.
    let err = conn
        .call::<_, pb::Empty>(
            "StateChange",
            &pb::StateChangeEvent {
                event: Event::RunPodSandbox.to_proto().into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PeerError::Rpc {
                code: Code::INVALID_ARGUMENT,
                ..
            }
        ),
        "{err}"
    );
    assert!(running.nothing_pending());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_request_reaches_the_plugin() {
    let setup = Setup::new(v12_peer());
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(setup.socket()));
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;
    conn.shutdown_plugin().await.unwrap();
    assert!(matches!(running.next().await, Seen::Shutdown));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn slow_handler_gets_the_plugin_dropped_and_it_reconnects() {
    let setup = Setup::new(PeerConfig {
        request_timeout: Duration::from_millis(300),
        ..v08_peer()
    });
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(
        plugin.hanging_on(Event::StartContainer),
        seen,
        plugin_config(setup.socket()),
    );
    let conn = accept(&setup).await;
    expect_configure(&mut running).await;

    let (p, c) = (pod("p"), container("c", "p"));
    let err = within(
        "the timeout",
        conn.event(Event::StartContainer, &p, Some(&c)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PeerError::Timeout { .. }), "{err}");
    expect_event(&mut running, Event::StartContainer, "p", Some("c")).await;
    match running.next().await {
        Seen::Lost { mux, text } => {
            assert!(matches!(mux, Some(MuxError::PeerClosed)), "{text}")
        }
        other => panic!("expected the connection loss, got {other:?}"),
    }

    // The plugin comes back and is configured and synchronized anew.
    let again = accept(&setup).await;
    expect_configure(&mut running).await;
    again
        .synchronize(vec![pod("p")], vec![c.clone()])
        .await
        .unwrap();
    assert!(matches!(running.next().await, Seen::Sync { .. }));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn reconnects_after_the_runtime_restarts() {
    let Setup { dir, runtime } = Setup::new(v08_peer());
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(runtime.socket_path()));
    let conn = within("first connection", runtime.accept()).await.unwrap();
    expect_configure(&mut running).await;
    conn.synchronize(vec![pod("p1")], vec![]).await.unwrap();
    assert!(matches!(running.next().await, Seen::Sync { .. }));

    // The runtime goes away (socket gone, connection closed), then returns.
    let runtime = runtime.restart().unwrap();
    drop(conn);
    match running.next().await {
        Seen::Lost { mux, .. } => assert!(matches!(mux, Some(MuxError::PeerClosed))),
        other => panic!("expected the connection loss, got {other:?}"),
    }
    let conn = within("reconnection", runtime.accept()).await.unwrap();
    assert_eq!(conn.registration().name, "recorder");
    expect_configure(&mut running).await;
    conn.synchronize(vec![pod("p2")], vec![]).await.unwrap();
    assert!(matches!(running.next().await, Seen::Sync { pods, .. } if pods == ["p2"]));
    conn.event(Event::RunPodSandbox, &pod("p3"), None)
        .await
        .unwrap();
    expect_event(&mut running, Event::RunPodSandbox, "p3", None).await;
    running.stop().await.unwrap();
    drop(dir);
}

#[tokio::test]
async fn keeps_retrying_until_the_runtime_appears_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("later.sock");
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, plugin_config(&socket));
    // No runtime yet: the plugin retries with backoff; then one appears.
    let runtime = nri::testing::TestRuntime::bind(&socket, v08_peer()).unwrap();
    let _conn = within("connection", runtime.accept()).await.unwrap();
    expect_configure(&mut running).await;
    drop(runtime);

    // Stopping works while waiting between attempts, too.
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running2 = start(plugin, seen, plugin_config(dir.path().join("never.sock")));
    running2.stop().await.expect("shutdown while reconnecting");
    running.stop().await.unwrap();
}

/// How a plugin that does not reconnect ends when its socket does not exist.
async fn run_against_a_missing_socket() -> Result<(), StubError> {
    let dir = tempfile::tempdir().unwrap();
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let running = start(
        plugin,
        seen,
        plugin_config(dir.path().join("absent.sock")).with_reconnect(None),
    );
    running.finished().await
}

#[tokio::test]
async fn without_reconnect_a_missing_socket_is_an_error() {
    match run_against_a_missing_socket().await {
        Err(StubError::Connect { path, .. }) => assert!(path.ends_with("absent.sock")),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_socket_renders_the_os_message_once() {
    let err = run_against_a_missing_socket()
        .await
        .expect_err("no socket to connect to");
    let text = cause_chain::render(&err);
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
    assert!(text.contains("absent.sock"), "{text}");
}

#[tokio::test]
async fn runtime_launched_plugin_uses_the_inherited_socket() {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = ours.into_raw_fd();
    let config = PluginConfig::from_vars(
        [
            ("NRI_PLUGIN_SOCKET", fd.to_string()),
            ("NRI_PLUGIN_NAME", "launched".to_string()),
            ("NRI_PLUGIN_IDX", "07".to_string()),
        ],
        "default",
        "50",
    )
    .unwrap()
    .with_reconnect(Some(fast_backoff()));
    let (plugin, seen) = Recorder::new(EventMask::NRI_V0_8);
    let mut running = start(plugin, seen, config);

    theirs.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(theirs).unwrap();
    let conn = within("handshake", PluginConnection::handshake(stream, v08_peer()))
        .await
        .unwrap();
    assert_eq!(conn.registration().name, "launched");
    assert_eq!(conn.registration().idx, "07");
    expect_configure(&mut running).await;
    conn.synchronize(vec![pod("p")], vec![]).await.unwrap();
    assert!(matches!(running.next().await, Seen::Sync { .. }));

    // The runtime closing the inherited socket ends the plugin: it cannot
    // reconnect, the runtime launches it again.
    drop(conn);
    assert!(matches!(running.next().await, Seen::Lost { .. }));
    match running.finished().await {
        Err(StubError::ConnectionClosed(MuxError::PeerClosed)) => {}
        other => panic!("expected the connection to end the runner, got {other:?}"),
    }
}

#[tokio::test]
async fn run_on_serves_a_given_stream() {
    let (plugin_end, runtime_end) = tokio::io::duplex(64 * 1024);
    let (plugin, mut seen) = Recorder::new(EventMask::NRI_V0_8);
    let runner = nri::Runner::new(std::sync::Arc::new(plugin), plugin_config("unused"));
    let stop = runner.shutdown_handle();
    let task = tokio::spawn(runner.run_on(plugin_end));
    let conn = within(
        "handshake",
        PluginConnection::handshake(runtime_end, v12_peer()),
    )
    .await
    .unwrap();
    assert!(
        matches!(seen.recv().await, Some(Seen::Configure(info)) if info.nri_version == "v0.12.2")
    );
    conn.event(Event::RunPodSandbox, &pod("p"), None)
        .await
        .unwrap();
    stop.shutdown();
    within("runner", task).await.unwrap().unwrap();
    assert!(matches!(conn.closed().await, MuxError::PeerClosed));
}

#[tokio::test]
async fn peer_rejects_masks_its_runtime_does_not_know() {
    // A hand-written plugin side answering Configure with a v0.12-only bit
    // to a containerd 2.1 peer.
    let (plugin_end, runtime_end) = tokio::io::duplex(64 * 1024);
    let fake = tokio::spawn(fake_plugin_with_mask(
        plugin_end,
        Event::UpdatePodSandbox.bit(),
    ));
    let err = within(
        "handshake",
        PluginConnection::handshake(
            runtime_end,
            PeerConfig {
                mode: RuntimeMode::NriV0_8,
                ..v08_peer()
            },
        ),
    )
    .await
    .unwrap_err();
    match err {
        PeerError::InvalidEvents { mask, extra } => {
            assert_eq!(mask, 0x800);
            assert_eq!(extra, Event::UpdatePodSandbox.into());
        }
        other => panic!("expected InvalidEvents, got {other:?}"),
    }
    within("fake plugin", fake).await.unwrap();
}

/// Registers over the NRI protocol and answers Configure with `mask`,
/// bypassing the stub's own trimming.
async fn fake_plugin_with_mask(stream: tokio::io::DuplexStream, mask: u32) {
    use nri::mux::Mux;
    use nri::proto::nri_ttrpc;
    use ttrpc::r#async::transport::Socket;

    struct Fixed(u32);
    #[async_trait::async_trait]
    impl nri_ttrpc::Plugin for Fixed {
        async fn configure(
            &self,
            _ctx: &ttrpc::r#async::TtrpcContext,
            _req: pb::ConfigureRequest,
        ) -> ttrpc::Result<pb::ConfigureResponse> {
            Ok(pb::ConfigureResponse {
                events: self.0 as i32,
                ..Default::default()
            })
        }
    }

    let (mux, [c1, c2]) = Mux::new(stream, [1, 2]).unwrap();
    let listener = ttrpc::r#async::transport::Listener::new(futures::stream::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(c1) }),
        futures::stream::pending(),
    ));
    let mut server = ttrpc::r#async::Server::new()
        .register_service(nri_ttrpc::create_plugin(std::sync::Arc::new(Fixed(mask))))
        .add_listener(listener);
    server.start().await.unwrap();
    let runtime = nri_ttrpc::RuntimeClient::new(ttrpc::r#async::Client::new(Socket::new(c2)));
    let request = pb::RegisterPluginRequest {
        plugin_name: "fake".into(),
        plugin_idx: "01".into(),
        ..Default::default()
    };
    runtime
        .register_plugin(ttrpc::context::with_duration(LIMIT), &request)
        .await
        .unwrap();
    // The peer drops us after Configure.
    mux.closed().await;
    drop(server);
}
