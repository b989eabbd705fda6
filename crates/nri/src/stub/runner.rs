//! Connection lifecycle: connect, register, serve, reconnect.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use ttrpc::r#async::transport::{Listener, Socket};
use ttrpc::r#async::{Client, Server};

use super::service::{Configured, PluginService};
use super::{Plugin, PluginConfig, Transport};
use crate::error::{MuxError, StubError};
use crate::mux::{Mux, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN};
use crate::proto::nri::RegisterPluginRequest;
use crate::proto::nri_ttrpc::RuntimeClient;

/// Ends a [`Runner`]: the current connection is closed and `run` returns
/// `Ok(())`. Cloneable; any clone can trigger it.
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        ShutdownHandle::default()
    }

    /// Requests shutdown.
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// Whether shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Waits until shutdown is requested.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

/// Runs a [`Plugin`] against the runtime.
pub struct Runner<P> {
    plugin: Arc<P>,
    config: PluginConfig,
    shutdown: ShutdownHandle,
}

impl<P: Plugin> Runner<P> {
    /// A runner for `plugin`.
    pub fn new(plugin: Arc<P>, config: PluginConfig) -> Self {
        Runner {
            plugin,
            config,
            shutdown: ShutdownHandle::new(),
        }
    }

    /// Use `handle` (e.g. one shared with other tasks) for shutdown.
    #[must_use]
    pub fn with_shutdown(mut self, handle: ShutdownHandle) -> Self {
        self.shutdown = handle;
        self
    }

    /// A handle that ends [`run`](Self::run).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Connects as configured and serves the runtime until shutdown.
    ///
    /// With [`Transport::Socket`] and a reconnect [`Backoff`](super::Backoff)
    /// it retries failed connection attempts and reconnects after a lost
    /// connection (calling [`Plugin::connection_lost`] first) until
    /// shutdown. Without one, and always with [`Transport::InheritedFd`], it
    /// returns the first error.
    ///
    /// # Errors
    ///
    /// Why the (last) connection failed; `Ok(())` after shutdown.
    pub async fn run(self) -> Result<(), StubError> {
        match self.config.transport().clone() {
            Transport::InheritedFd(fd) => {
                let stream = adopt_inherited_socket(fd)?;
                self.run_on(stream).await
            }
            Transport::Socket(path) => self.run_socket(&path).await,
        }
    }

    /// Serves one connection over `stream` (already connected to the
    /// runtime), without reconnecting.
    ///
    /// # Errors
    ///
    /// Why the connection failed or ended; `Ok(())` after shutdown.
    pub async fn run_on<S>(self, stream: S) -> Result<(), StubError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let end = session(&self.plugin, &self.config, stream, &self.shutdown).await;
        match end.result {
            Ok(()) => Ok(()),
            Err(err) => {
                if end.configured {
                    self.plugin.connection_lost(&err).await;
                }
                Err(err)
            }
        }
    }

    async fn run_socket(&self, path: &Path) -> Result<(), StubError> {
        let reconnect = self.config.reconnect();
        let mut delay = reconnect.map_or(Duration::ZERO, |b| b.initial);
        loop {
            let connected = tokio::select! {
                biased;
                () = self.shutdown.wait() => return Ok(()),
                connected = UnixStream::connect(path) => connected,
            };
            let end = match connected {
                Ok(stream) => session(&self.plugin, &self.config, stream, &self.shutdown).await,
                Err(source) => SessionEnd {
                    configured: false,
                    result: Err(StubError::Connect {
                        path: path.to_owned(),
                        source,
                    }),
                },
            };
            let err = match end.result {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if end.configured {
                self.plugin.connection_lost(&err).await;
            }
            let Some(backoff) = reconnect else {
                return Err(err);
            };
            if end.configured {
                delay = backoff.initial;
            }
            warn!(error = %cause_chain::Chain(&err), retry_in = ?delay, "NRI connection failed; reconnecting");
            tokio::select! {
                biased;
                () = self.shutdown.wait() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
            delay = backoff.next(delay);
        }
    }
}

struct SessionEnd {
    /// Whether the runtime configured the plugin on this connection.
    configured: bool,
    result: Result<(), StubError>,
}

enum Step<T> {
    Done(T),
    Closed(MuxError),
    Shutdown,
}

/// Runs `fut` unless the connection closes or shutdown is requested first.
async fn race<T>(mux: &Mux, shutdown: &ShutdownHandle, fut: impl Future<Output = T>) -> Step<T> {
    tokio::select! {
        biased;
        () = shutdown.wait() => Step::Shutdown,
        reason = mux.closed() => Step::Closed(reason),
        value = fut => Step::Done(value),
    }
}

async fn session<P, S>(
    plugin: &Arc<P>,
    config: &PluginConfig,
    stream: S,
    shutdown: &ShutdownHandle,
) -> SessionEnd
where
    P: Plugin,
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut configured = false;
    let result = serve(plugin, config, stream, shutdown, &mut configured).await;
    SessionEnd { configured, result }
}

async fn serve<P, S>(
    plugin: &Arc<P>,
    config: &PluginConfig,
    stream: S,
    shutdown: &ShutdownHandle,
    configured: &mut bool,
) -> Result<(), StubError>
where
    P: Plugin,
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mux, [plugin_conn, runtime_conn]) =
        Mux::new(stream, [PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN]).map_err(StubError::Mux)?;

    let (configured_tx, configured_rx) = oneshot::channel::<Configured>();
    let services =
        PluginService::new(plugin.clone(), configured_tx).into_services(config.is_legacy());
    // ttrpc accepts connections from a listener; this one yields the single
    // multiplexed connection and then stays open (never ends), because
    // ttrpc's accept loop treats a finished listener as "stop serving".
    let listener = Listener::new(
        futures::stream::once(async move { Ok::<_, io::Error>(plugin_conn) })
            .chain(futures::stream::pending()),
    );
    let mut server = Server::new()
        .register_service(services)
        .add_listener(listener);
    server.start().await.map_err(StubError::Ttrpc)?;
    let runtime = RuntimeClient::new(Client::new(Socket::new(runtime_conn)));

    let result =
        register_and_serve(config, &mux, &runtime, configured_rx, shutdown, configured).await;

    // Closing the multiplexer first lets the runtime see the end at once;
    // dropping the server then stops its connection tasks.
    mux.close();
    drop(server);
    result
}

async fn register_and_serve(
    config: &PluginConfig,
    mux: &Mux,
    runtime: &RuntimeClient,
    configured_rx: oneshot::Receiver<Configured>,
    shutdown: &ShutdownHandle,
    configured: &mut bool,
) -> Result<(), StubError> {
    let timeout = config.registration_timeout();
    let request = RegisterPluginRequest {
        plugin_name: config.name().to_owned(),
        plugin_idx: config.idx().to_owned(),
        ..Default::default()
    };
    // Configure may arrive before this call returns (the runtime calls it
    // right after answering); the service records it independently.
    let started = Instant::now();
    let register = tokio::time::timeout(
        timeout,
        runtime.register_plugin(ttrpc::context::with_duration(timeout), &request),
    );
    match race(mux, shutdown, register).await {
        Step::Shutdown => return Ok(()),
        Step::Closed(reason) => return Err(StubError::ConnectionClosed(reason)),
        Step::Done(Err(_elapsed)) => return Err(StubError::RegistrationTimeout(timeout)),
        // The ttrpc client enforces the same deadline and may fire first.
        Step::Done(Ok(Err(_))) if started.elapsed() >= timeout => {
            return Err(StubError::RegistrationTimeout(timeout));
        }
        Step::Done(Ok(Err(err))) => return Err(StubError::Register(err)),
        Step::Done(Ok(Ok(_))) => {}
    }

    match race(mux, shutdown, tokio::time::timeout(timeout, configured_rx)).await {
        Step::Shutdown => return Ok(()),
        Step::Closed(reason) => return Err(StubError::ConnectionClosed(reason)),
        // The sender lives in the service, which outlives this wait; a
        // dropped sender can only mean no Configure came.
        Step::Done(Err(_) | Ok(Err(_))) => return Err(StubError::NotConfigured(timeout)),
        Step::Done(Ok(Ok(Err(message)))) => {
            // The error answer is still on its way to the runtime, which
            // closes the connection once it has it; closing first would
            // replace the reason with a bare "connection closed" there.
            let _ = race(mux, shutdown, tokio::time::sleep(timeout)).await;
            return Err(StubError::Configure(message));
        }
        Step::Done(Ok(Ok(Ok(events)))) => {
            *configured = true;
            info!(
                plugin = %format_args!("{}-{}", config.idx(), config.name()),
                %events,
                "registered with the runtime"
            );
        }
    }

    match race(mux, shutdown, std::future::pending::<()>()).await {
        Step::Closed(reason) => Err(StubError::ConnectionClosed(reason)),
        Step::Shutdown | Step::Done(()) => Ok(()),
    }
}

/// Takes ownership of the connected socket the runtime passed as `fd`.
fn adopt_inherited_socket(fd: RawFd) -> Result<UnixStream, StubError> {
    let fail = |source| StubError::InheritedSocket { fd, source };
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat only writes into the provided buffer; an invalid fd
    // makes it fail with EBADF, checked below.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: fstat succeeded, so it initialised the buffer.
    let stat = unsafe { stat.assume_init() };
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the descriptor is not a socket",
        )));
    }
    // The runtime leaves the descriptor inheritable; keep it from leaking
    // into processes the plugin starts.
    // SAFETY: plain fcntl on a descriptor known to be open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: the runtime hands this open socket to the plugin, which owns
    // it from here on; nothing else in the process uses the number.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = std::os::unix::net::UnixStream::from(owned);
    stream.set_nonblocking(true).map_err(fail)?;
    UnixStream::from_std(stream).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopting_a_closed_or_non_socket_fd_fails_cleanly() {
        let err = adopt_inherited_socket(-1).unwrap_err();
        assert!(
            matches!(err, StubError::InheritedSocket { fd: -1, .. }),
            "{err}"
        );

        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let err = adopt_inherited_socket(fd).unwrap_err();
        let text = cause_chain::render(&err);
        assert!(text.contains("not a socket"), "{text}");
    }
}
