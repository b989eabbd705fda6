//! The NRI connection multiplexer: several logical byte streams over one
//! stream (the runtime's Unix socket).
//!
//! A frame is an 8-byte header (connection id, payload length; both `u32`
//! big-endian) followed by the payload. There are no open, close or
//! acknowledgement frames: a connection exists once both sides use its id,
//! and frames for an id nobody opened are dropped. Id 0 is reserved. NRI uses
//! connection [`PLUGIN_SERVICE_CONN`] for the runtime's calls to the plugin
//! and [`RUNTIME_SERVICE_CONN`] for the plugin's calls to the runtime; ttrpc
//! runs inside each.
//!
//! Limits are asymmetric on purpose. The Go implementation reads each frame
//! with a single read into a 4096-byte buffer and fails the whole connection
//! on a larger frame, so frames sent from here carry at most
//! [`MAX_SEND_PAYLOAD`] bytes. Frames received may be as large as one ttrpc
//! message (4 MiB payload plus its 10-byte header), [`MAX_RECV_PAYLOAD`];
//! anything larger is a protocol violation and closes the multiplexer.
//!
//! Each logical connection is a [`MuxConn`], an `AsyncRead + AsyncWrite`
//! that ttrpc runs over. One task reads frames from the stream and queues
//! their payloads per connection; one task writes queued frames, so frames
//! never interleave.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard, PollSender};
use tracing::{debug, warn};

use crate::error::MuxError;

/// A logical connection id.
pub type ConnId = u32;

/// Connection on which the runtime calls the plugin's `Plugin` service.
pub const PLUGIN_SERVICE_CONN: ConnId = 1;
/// Connection on which the plugin calls the runtime's `Runtime` service.
pub const RUNTIME_SERVICE_CONN: ConnId = 2;

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;
/// Largest payload of a frame this side sends.
pub const MAX_SEND_PAYLOAD: usize = 4096;
/// Largest payload of a frame this side accepts: one ttrpc message (10-byte
/// header plus at most 4 MiB).
pub const MAX_RECV_PAYLOAD: usize = (4 << 20) + 10;

/// Payloads queued per connection before the reader waits for the
/// connection's consumer. Waiting (rather than failing, as the Go side does)
/// keeps a slow consumer from losing data; ttrpc consumes continuously.
const DOWNLINK_QUEUE: usize = 64;
/// Frames queued for the writer task.
const UPLINK_QUEUE: usize = 64;
/// How long closing waits for the stream's shutdown (a FIN on sockets).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Logical connection id.
    pub conn: ConnId,
    /// Payload length in bytes.
    pub len: u32,
}

impl FrameHeader {
    /// The 8 wire bytes.
    pub fn encode(self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..4].copy_from_slice(&self.conn.to_be_bytes());
        bytes[4..].copy_from_slice(&self.len.to_be_bytes());
        bytes
    }

    /// Parses the 8 wire bytes.
    pub fn decode(bytes: [u8; HEADER_LEN]) -> FrameHeader {
        let [a, b, c, d, e, f, g, h] = bytes;
        FrameHeader {
            conn: u32::from_be_bytes([a, b, c, d]),
            len: u32::from_be_bytes([e, f, g, h]),
        }
    }
}

/// Encodes `payload` for connection `conn` as consecutive frames of at most
/// [`MAX_SEND_PAYLOAD`] bytes each. An empty payload yields no frame: an
/// empty frame would read as end-of-stream on the Go side.
pub fn encode_frames(conn: ConnId, payload: &[u8]) -> Vec<u8> {
    let frames = payload.len().div_ceil(MAX_SEND_PAYLOAD);
    let mut out = Vec::with_capacity(payload.len() + frames * HEADER_LEN);
    for chunk in payload.chunks(MAX_SEND_PAYLOAD) {
        push_frame(&mut out, conn, chunk);
    }
    out
}

fn push_frame(out: &mut Vec<u8>, conn: ConnId, chunk: &[u8]) {
    // Chunks are at most MAX_SEND_PAYLOAD long, so the length fits in u32.
    let len = chunk.len() as u32;
    out.extend_from_slice(&FrameHeader { conn, len }.encode());
    out.extend_from_slice(chunk);
}

#[derive(Debug)]
enum Outbound {
    /// Bytes written to the stream as they are (one or more whole frames,
    /// or anything when injected on purpose).
    Bytes(Vec<u8>),
    /// Write everything queued before, then close.
    Close,
}

struct Shared {
    conns: Mutex<HashMap<ConnId, mpsc::Sender<Vec<u8>>>>,
    out: mpsc::Sender<Outbound>,
    dropped: AtomicU64,
    closed: watch::Sender<Option<MuxError>>,
    cancel: CancellationToken,
}

/// The close reason for an I/O error: a reset or broken pipe means the peer
/// went away, which is what callers need to know, not the errno.
fn io_reason(err: io::Error) -> MuxError {
    match err.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => MuxError::PeerClosed,
        _ => err.into(),
    }
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, HashMap<ConnId, mpsc::Sender<Vec<u8>>>> {
        // The map stays consistent even if a holder panicked: every
        // operation on it is a single insert, remove or clear.
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the first close reason, stops both tasks and ends every
    /// connection's read side (after the payloads already queued).
    fn close_with(&self, reason: MuxError) {
        self.closed.send_if_modified(|current| {
            if current.is_none() {
                debug!(%reason, "multiplexer closing");
                *current = Some(reason);
                true
            } else {
                false
            }
        });
        self.cancel.cancel();
        self.conns().clear();
    }

    fn reason(&self) -> MuxError {
        self.closed.borrow().clone().unwrap_or(MuxError::Closed)
    }
}

/// A multiplexer over one stream. Cheap to clone; when the last clone is
/// dropped the multiplexer closes (its connections then read end-of-stream).
#[derive(Clone)]
pub struct Mux {
    shared: Arc<Shared>,
    _close_on_drop: Arc<DropGuard>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("closed", &*self.shared.closed.borrow())
            .field("dropped_frames", &self.dropped_frames())
            .finish()
    }
}

impl Mux {
    /// Starts multiplexing `trunk` with the connections `conns` open from the
    /// first byte on (so no early frame for them is dropped).
    ///
    /// ```no_run
    /// # async fn demo(stream: tokio::net::UnixStream) -> Result<(), nri::error::MuxError> {
    /// use nri::mux::{Mux, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN};
    /// let (mux, [plugin_conn, runtime_conn]) =
    ///     Mux::new(stream, [PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN])?;
    /// # drop((mux, plugin_conn, runtime_conn)); Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`MuxError::ReservedConnId`] or [`MuxError::DuplicateConnId`] for bad
    /// ids.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns the reader and writer tasks).
    pub fn new<T, const N: usize>(
        trunk: T,
        conns: [ConnId; N],
    ) -> Result<(Mux, [MuxConn; N]), MuxError>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        for (i, id) in conns.iter().enumerate() {
            if *id == 0 {
                return Err(MuxError::ReservedConnId);
            }
            if conns[..i].contains(id) {
                return Err(MuxError::DuplicateConnId(*id));
            }
        }

        let (out_tx, out_rx) = mpsc::channel(UPLINK_QUEUE);
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            conns: Mutex::new(HashMap::new()),
            out: out_tx,
            dropped: AtomicU64::new(0),
            closed: watch::Sender::new(None),
            cancel: cancel.clone(),
        });
        let mux = Mux {
            shared: shared.clone(),
            _close_on_drop: Arc::new(cancel.drop_guard()),
        };
        let opened = conns.map(|id| mux.register(id));

        let (read, write) = tokio::io::split(trunk);
        tokio::spawn(writer_task(write, out_rx, shared.clone()));
        tokio::spawn(reader_task(read, shared));
        Ok((mux, opened))
    }

    /// Opens another connection. Frames that arrived for it before were
    /// dropped.
    ///
    /// # Errors
    ///
    /// Reserved or already open id; [`MuxError`] of the close if the
    /// multiplexer is closed.
    pub fn open(&self, id: ConnId) -> Result<MuxConn, MuxError> {
        if id == 0 {
            return Err(MuxError::ReservedConnId);
        }
        if let Some(reason) = self.close_reason() {
            return Err(reason);
        }
        if self
            .shared
            .conns()
            .get(&id)
            .is_some_and(|tx| !tx.is_closed())
        {
            return Err(MuxError::DuplicateConnId(id));
        }
        Ok(self.register(id))
    }

    fn register(&self, id: ConnId) -> MuxConn {
        let (tx, rx) = mpsc::channel(DOWNLINK_QUEUE);
        self.shared.conns().insert(id, tx);
        MuxConn {
            id,
            rx,
            buf: Vec::new(),
            pos: 0,
            tx: PollSender::new(self.shared.out.clone()),
        }
    }

    /// Closes at once: queued outgoing frames are discarded, the stream is
    /// shut down and released, connections read end-of-stream.
    pub fn close(&self) {
        self.shared.close_with(MuxError::Closed);
    }

    /// Closes after writing every frame queued so far, and waits until
    /// closed.
    pub async fn shutdown(&self) {
        // A failed send means the writer is gone, i.e. already closed.
        let _ = self.shared.out.send(Outbound::Close).await;
        self.closed().await;
    }

    /// Waits until the multiplexer is closed and returns why.
    pub async fn closed(&self) -> MuxError {
        let mut rx = self.shared.closed.subscribe();
        // The sender lives in `self.shared`, so waiting cannot fail; fall
        // back to the generic reason rather than unwrapping.
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(MuxError::Closed),
            Err(_) => MuxError::Closed,
        }
    }

    /// Why the multiplexer closed, if it has.
    pub fn close_reason(&self) -> Option<MuxError> {
        self.shared.closed.borrow().clone()
    }

    /// Number of received frames that were dropped because no open
    /// connection had their id (including the reserved id 0).
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Sends `payload` on connection `conn`, split into frames of at most
    /// [`MAX_SEND_PAYLOAD`] bytes, whether or not the connection is open
    /// here.
    ///
    /// # Errors
    ///
    /// The close reason if the multiplexer is closed.
    pub async fn send_frames(&self, conn: ConnId, payload: &[u8]) -> Result<(), MuxError> {
        self.send_raw(encode_frames(conn, payload)).await
    }

    /// Writes `bytes` to the stream as they are, in order with the frames of
    /// every connection. For tests and diagnostics: anything not made of
    /// whole frames breaks the protocol.
    ///
    /// # Errors
    ///
    /// The close reason if the multiplexer is closed.
    pub async fn send_raw(&self, bytes: Vec<u8>) -> Result<(), MuxError> {
        self.shared
            .out
            .send(Outbound::Bytes(bytes))
            .await
            .map_err(|_| self.shared.reason())
    }
}

/// One logical connection of a [`Mux`].
///
/// Reads end (return 0 bytes) when the multiplexer closes, after the data
/// already received; writes then fail with `BrokenPipe`. Each write sends at
/// most one frame of [`MAX_SEND_PAYLOAD`] bytes (`write_all` sends more).
/// Dropping it closes the connection locally: later frames for its id are
/// dropped.
#[derive(Debug)]
pub struct MuxConn {
    id: ConnId,
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    tx: PollSender<Outbound>,
}

impl MuxConn {
    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }
}

impl AsyncRead for MuxConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pos >= this.buf.len() {
            match ready!(this.rx.poll_recv(cx)) {
                Some(payload) => {
                    this.buf = payload;
                    this.pos = 0;
                }
                // End of stream: the multiplexer closed.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = out.remaining().min(this.buf.len() - this.pos);
        out.put_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the multiplexer is closed")
}

impl AsyncWrite for MuxConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.tx.poll_reserve(cx)).map_err(|_| broken_pipe())?;
        let n = data.len().min(MAX_SEND_PAYLOAD);
        let mut frame = Vec::with_capacity(HEADER_LEN + n);
        push_frame(&mut frame, this.id, &data[..n]);
        this.tx
            .send_item(Outbound::Bytes(frame))
            .map_err(|_| broken_pipe())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Frames are handed to the writer task as they are written; like a
        // socket buffer, flushing does not wait for the stream.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The protocol has no close frame; just refuse further writes.
        self.get_mut().tx.close();
        Poll::Ready(Ok(()))
    }
}

async fn reader_task<R: AsyncRead + Unpin>(mut read: R, shared: Arc<Shared>) {
    let reason = tokio::select! {
        biased;
        () = shared.cancel.cancelled() => MuxError::Closed,
        reason = read_loop(&mut read, &shared) => reason,
    };
    shared.close_with(reason);
}

/// Reads and delivers frames until the stream ends or breaks the protocol.
async fn read_loop<R: AsyncRead + Unpin>(read: &mut R, shared: &Shared) -> MuxError {
    loop {
        let (header, payload) = match read_frame(read).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return MuxError::PeerClosed,
            Err(err) => {
                warn!(err = %cause_chain::Chain(&err), "closing multiplexed connection");
                return err;
            }
        };
        let conn = shared.conns().get(&header.conn).cloned();
        let Some(tx) = conn else {
            let dropped = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(
                conn = header.conn,
                len = header.len,
                dropped,
                "dropping frame for a connection that is not open"
            );
            continue;
        };
        if payload.is_empty() {
            // Nothing to deliver; an empty read would look like EOF.
            continue;
        }
        if tx.send(payload).await.is_err() {
            // The connection was dropped locally since the lookup.
            let mut conns = shared.conns();
            if conns.get(&header.conn).is_some_and(|t| t.same_channel(&tx)) {
                conns.remove(&header.conn);
            }
            drop(conns);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            debug!(conn = header.conn, "dropping frame for a closed connection");
        }
    }
}

/// Reads one frame; `None` at a clean end of stream (between frames).
async fn read_frame<R: AsyncRead + Unpin>(
    read: &mut R,
) -> Result<Option<(FrameHeader, Vec<u8>)>, MuxError> {
    let mut raw = [0; HEADER_LEN];
    let got = read_full(read, &mut raw).await.map_err(io_reason)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(MuxError::Truncated {
            expected: HEADER_LEN,
            got,
        });
    }
    let header = FrameHeader::decode(raw);
    let len = header.len as usize;
    if len > MAX_RECV_PAYLOAD {
        return Err(MuxError::Oversized {
            conn: header.conn,
            len: header.len,
            max: MAX_RECV_PAYLOAD,
        });
    }
    let mut payload = vec![0; len];
    let got = read_full(read, &mut payload).await.map_err(io_reason)?;
    if got < len {
        return Err(MuxError::Truncated {
            expected: HEADER_LEN + len,
            got: HEADER_LEN + got,
        });
    }
    Ok(Some((header, payload)))
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
async fn read_full<R: AsyncRead + Unpin>(read: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = read.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn writer_task<W: AsyncWrite + Unpin>(
    mut write: W,
    mut out: mpsc::Receiver<Outbound>,
    shared: Arc<Shared>,
) {
    let result = tokio::select! {
        biased;
        () = shared.cancel.cancelled() => None,
        result = write_loop(&mut write, &mut out) => Some(result),
    };
    match result {
        Some(Ok(())) => shared.close_with(MuxError::Closed),
        Some(Err(err)) => {
            let reason = io_reason(err);
            if !matches!(reason, MuxError::PeerClosed) {
                warn!(%reason, "writing to the multiplexed connection failed");
            }
            shared.close_with(reason);
        }
        None => {}
    }
    // Stop frames queued by connections from piling up, then tell the peer.
    out.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, write.shutdown()).await;
}

/// Writes queued frames until asked to close.
async fn write_loop<W: AsyncWrite + Unpin>(
    write: &mut W,
    out: &mut mpsc::Receiver<Outbound>,
) -> io::Result<()> {
    while let Some(item) = out.recv().await {
        match item {
            Outbound::Bytes(bytes) => {
                write.write_all(&bytes).await?;
                if out.is_empty() {
                    write.flush().await?;
                }
            }
            Outbound::Close => break,
        }
    }
    write.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_is_big_endian() {
        let header = FrameHeader {
            conn: 0x0102_0304,
            len: 0x0a0b_0c0d,
        };
        let bytes = header.encode();
        assert_eq!(bytes, [1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(FrameHeader::decode(bytes), header);
    }

    #[test]
    fn encode_frames_splits_at_the_send_limit() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let wire = encode_frames(7, &payload);
        let mut rest = &wire[..];
        let mut sizes = Vec::new();
        let mut joined = Vec::new();
        while !rest.is_empty() {
            let mut raw = [0; HEADER_LEN];
            raw.copy_from_slice(&rest[..HEADER_LEN]);
            let header = FrameHeader::decode(raw);
            assert_eq!(header.conn, 7);
            let len = header.len as usize;
            sizes.push(len);
            joined.extend_from_slice(&rest[HEADER_LEN..HEADER_LEN + len]);
            rest = &rest[HEADER_LEN + len..];
        }
        assert_eq!(sizes, [4096, 4096, 1808]);
        assert_eq!(joined, payload);
        assert_eq!(encode_frames(7, &[0; 4096]).len(), HEADER_LEN + 4096);
        assert!(encode_frames(7, &[]).is_empty());
    }
}
