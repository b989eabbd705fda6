//! Runs the NRI runner, and restarts its connection when events were lost.
//!
//! The runner reconnects by itself when the runtime goes away; this loop adds the one
//! reason the plugin has to reconnect on its own: events lost to a full work queue. A
//! fresh connection makes the runtime send `Synchronize` again, which the core treats as
//! authoritative, so nothing lost stays lost. The worker asks for it once it has caught
//! up (see `Signals`). Should a call be in flight when the connection closes anyway,
//! containerd counts that as the plugin failing, drops it and goes on with the
//! operation; it never fails the user's container.

use std::sync::Arc;

use nri::stub::{PluginConfig as NriConfig, Runner, ShutdownHandle, Transport};

use super::error::AdapterError;
use super::handlers::NriHandlers;
use super::queue::Signals;

/// Serves the runtime until `stop` is triggered (then `Ok`), the runner gives up (its
/// error), or the worker is gone.
pub(crate) async fn supervise(
    handlers: Arc<NriHandlers>,
    nri: NriConfig,
    signals: Arc<Signals>,
    stop: ShutdownHandle,
) -> Result<(), AdapterError> {
    let inherited = matches!(nri.transport(), Transport::InheritedFd(_));
    loop {
        let session = ShutdownHandle::new();
        let run = Runner::new(handlers.clone(), nri.clone())
            .with_shutdown(session.clone())
            .run();
        tokio::pin!(run);
        let reason = loop {
            tokio::select! {
                biased;
                () = stop.wait() => break Restart::Stop,
                () = signals.worker_gone.notified() => break Restart::WorkerGone,
                result = &mut run => return result.map_err(AdapterError::Nri),
                () = signals.resync.notified() => {
                    if inherited {
                        // The runtime's socket cannot be opened again; it only sends its
                        // state to a plugin it launches anew.
                        tracing::error!(
                            "events were lost, but a plugin launched by the runtime cannot \
                             reconnect to get its state again; the state is restored when \
                             the runtime restarts the plugin"
                        );
                        continue;
                    }
                    break Restart::Resync;
                }
            }
        };
        session.shutdown();
        // Shutdown ends the session cleanly; an error here is the connection's old news.
        if let Err(e) = run.await {
            tracing::debug!(error = %cause_chain::Chain(&e), "NRI session ended with an error while stopping");
        }
        match reason {
            Restart::Stop => return Ok(()),
            Restart::WorkerGone => return Err(AdapterError::WorkerStopped),
            Restart::Resync => {
                tracing::warn!("reconnecting to the runtime to get its full state");
            }
        }
    }
}

/// Why a session was ended from here.
enum Restart {
    Stop,
    WorkerGone,
    Resync,
}
