//! TCP transport for validators and their clients.
//!
//! 1. A frame on the wire is a 4-byte big-endian length and the bytes the wire codec made
//!    (`zkcrowd_protocol::codec`); a length above [`FRAME_BYTES_MAX`] closes the connection
//!    before anything is read into memory.
//! 2. A connection's first frame is its [`Hello`]: a validator says its index, a client nothing
//!    (the listener numbers client connections). The claimed index only routes replies: every
//!    consensus message is signed, so a caller that lies about its index can send nothing in
//!    another validator's name.
//! 3. Each validator keeps one outbound connection per peer (dialled, redialled with back-off) and
//!    reads peers' messages from the connections they dialled to it, so each direction has its
//!    own connection and no tie-breaking is needed.
//! 4. Bounds: at most [`PEER_QUEUE_BYTES_MAX`] of frames wait for one peer's connection (a peer
//!    that is down or slow loses what does not fit, as a lossy link would; the node re-sends what
//!    liveness needs), at most [`CLIENT_QUEUE_FRAMES_MAX`] frames for one client, and at most
//!    [`INBOX_EVENTS_MAX`] events wait for the host (readers then stop reading: TCP's flow
//!    control pushes back on the senders).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use alloy::primitives::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use zkcrowd_consensus::ValidatorIndex;
use zkcrowd_node::{Event, SYNC_RESPONSE_BYTES_MAX};
use zkcrowd_protocol::ClientId;

/// Largest frame on the wire: the largest message any kind may have (a sync response) and the
/// codec's version byte, with room to spare.
pub const FRAME_BYTES_MAX: usize = SYNC_RESPONSE_BYTES_MAX + 64;
/// Bytes of frames waiting for one peer's connection.
pub const PEER_QUEUE_BYTES_MAX: usize = 128 << 20;
/// Frames waiting for one peer's connection (many small votes).
pub const PEER_QUEUE_FRAMES_MAX: usize = 4_096;
/// Frames waiting for one client's connection.
pub const CLIENT_QUEUE_FRAMES_MAX: usize = 1_024;
/// Events waiting for the host.
pub const INBOX_EVENTS_MAX: usize = 4_096;
/// Longest wait between two dials of a peer that is down.
const REDIAL_MS_MAX: u64 = 2_000;
/// First wait after a failed dial.
const REDIAL_MS_MIN: u64 = 50;

const HELLO_MAGIC: [u8; 4] = *b"zkc1";

/// Who opened a connection (its first frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    /// Validator `index`, to send its peer messages.
    Validator(ValidatorIndex),
    /// A client (a plugin, a wallet): requests in, messages out.
    Client,
}

/// Why a connection's first frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// The connection closed first.
    #[error("the connection closed before its hello")]
    Closed,
    /// Not a zkcrowd hello.
    #[error("not a zkcrowd hello (expected {expected} bytes starting with {HELLO_MAGIC:?})", expected = 7)]
    Malformed,
    /// A validator index outside the set.
    #[error("validator {index} is not in the set of {validators}")]
    UnknownValidator {
        /// The claimed index.
        index: ValidatorIndex,
        /// The set's size.
        validators: u16,
    },
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

impl Hello {
    /// The frame.
    pub fn encode(self) -> Bytes {
        let (kind, index) = match self {
            Self::Validator(index) => (0u8, index),
            Self::Client => (1, 0),
        };
        let mut bytes = HELLO_MAGIC.to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&index.to_be_bytes());
        bytes.into()
    }

    /// Decodes a hello frame.
    pub fn decode(frame: &[u8], validators: u16) -> Result<Self, HelloError> {
        let [m0, m1, m2, m3, kind, i0, i1] = frame else { return Err(HelloError::Malformed) };
        if [*m0, *m1, *m2, *m3] != HELLO_MAGIC {
            return Err(HelloError::Malformed);
        }
        match kind {
            0 => {
                let index = u16::from_be_bytes([*i0, *i1]);
                if index >= validators {
                    return Err(HelloError::UnknownValidator { index, validators });
                }
                Ok(Self::Validator(index))
            }
            1 => Ok(Self::Client),
            _ => Err(HelloError::Malformed),
        }
    }
}

/// The length-prefixed framing every connection uses.
pub fn framing() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().length_field_type::<u32>().max_frame_length(FRAME_BYTES_MAX).new_codec()
}

/// What the transport dropped or refused, by cause.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Frames to a peer dropped because its queue was full.
    pub peer_frames_dropped: AtomicU64,
    /// Frames to a client dropped because its queue was full.
    pub client_frames_dropped: AtomicU64,
    /// Frames to a client that was gone (disconnected, or a finished JSON-RPC call).
    pub client_frames_unrouted: AtomicU64,
    /// Connections closed because their hello was refused.
    pub hellos_refused: AtomicU64,
    /// Connections closed because a frame was too long or the socket failed.
    pub connections_failed: AtomicU64,
}

/// One peer's outbound link: a bounded queue that a task drains into a connection it keeps open.
#[derive(Debug, Clone)]
pub struct PeerLink {
    queue: mpsc::Sender<Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

impl PeerLink {
    /// Starts the link from validator `me` to the peer at `addr`.
    pub fn spawn(me: ValidatorIndex, addr: SocketAddr, cancel: CancellationToken) -> Self {
        let (queue, mut frames) = mpsc::channel::<Bytes>(PEER_QUEUE_FRAMES_MAX);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let queued = queued_bytes.clone();
        tokio::spawn(async move {
            let mut wait_ms = REDIAL_MS_MIN;
            'dial: loop {
                let stream = tokio::select! {
                    () = cancel.cancelled() => return,
                    stream = TcpStream::connect(addr) => stream,
                };
                let Ok(stream) = stream else {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                    }
                    wait_ms = (wait_ms * 2).min(REDIAL_MS_MAX);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                wait_ms = REDIAL_MS_MIN;
                let mut framed = Framed::new(stream, framing());
                if framed.send(Hello::Validator(me).encode().0).await.is_err() {
                    continue;
                }
                loop {
                    let frame = tokio::select! {
                        () = cancel.cancelled() => return,
                        frame = frames.recv() => frame,
                    };
                    let Some(frame) = frame else { return };
                    queued.fetch_sub(frame.len(), Ordering::Relaxed);
                    if framed.send(frame.0).await.is_err() {
                        // The frame is lost with the connection, as on a lossy link.
                        continue 'dial;
                    }
                }
            }
        });
        Self { queue, queued_bytes }
    }

    /// Queues a frame; `false` if the queue is full (the frame is dropped).
    pub fn send(&self, frame: Bytes) -> bool {
        let len = frame.len();
        if self.queued_bytes.load(Ordering::Relaxed) + len > PEER_QUEUE_BYTES_MAX {
            return false;
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if self.queue.try_send(frame).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The connected clients (TCP connections and JSON-RPC calls) and their outbound queues, by
/// connection id. Ids are never reused.
#[derive(Debug, Default)]
pub struct ClientHub {
    next_id: AtomicU64,
    queues: std::sync::Mutex<std::collections::BTreeMap<ClientId, mpsc::Sender<Bytes>>>,
}

impl ClientHub {
    /// A new client whose messages wait in a queue of `capacity` frames.
    pub fn register(&self, capacity: usize) -> (ClientId, mpsc::Receiver<Bytes>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (queue, frames) = mpsc::channel(capacity);
        self.queues.lock().expect("clients lock").insert(id, queue);
        (id, frames)
    }

    /// The client is gone.
    pub fn remove(&self, id: ClientId) {
        self.queues.lock().expect("clients lock").remove(&id);
    }

    /// Queues a frame for client `id`.
    pub fn send(&self, id: ClientId, frame: Bytes) -> Result<(), ClientGone> {
        let queue = self.queues.lock().expect("clients lock").get(&id).cloned().ok_or(ClientGone::Unknown)?;
        queue.try_send(frame).map_err(|_| ClientGone::Full)
    }
}

/// Why a frame for a client was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientGone {
    /// No such client (it disconnected, or was a finished JSON-RPC call).
    #[error("no such client")]
    Unknown,
    /// Its queue is full.
    #[error("the client's queue is full")]
    Full,
}

/// Accepts connections on `listener` until cancelled: peers' frames become [`Event::Peer`],
/// clients' [`Event::Client`] (their replies go out through `clients`).
pub fn spawn_listener(
    listener: TcpListener,
    validators: u16,
    inbox: mpsc::Sender<Event>,
    clients: Arc<ClientHub>,
    counters: Arc<TransportCounters>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let (inbox, clients, counters, cancel) = (inbox.clone(), clients.clone(), counters.clone(), cancel.clone());
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, framing());
                let hello = match framed.next().await {
                    None => Err(HelloError::Closed),
                    Some(Err(error)) => Err(HelloError::Io(error)),
                    Some(Ok(frame)) => Hello::decode(&frame, validators),
                };
                match hello {
                    Ok(Hello::Validator(from)) => {
                        read_frames(framed, cancel, &counters, |frame| Event::Peer { from, frame }, &inbox).await;
                    }
                    Ok(Hello::Client) => serve_client(framed, inbox, clients, counters, cancel).await,
                    Err(error) => {
                        counters.hellos_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("refused a connection: {error}");
                    }
                }
            });
        }
    });
}

/// Forwards every frame of a connection to the host until it closes or is cancelled.
async fn read_frames<S>(
    mut stream: S,
    cancel: CancellationToken,
    counters: &TransportCounters,
    event: impl Fn(Bytes) -> Event,
    inbox: &mpsc::Sender<Event>,
) where
    S: futures::Stream<Item = Result<bytes::BytesMut, std::io::Error>> + Unpin,
{
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            None => return,
            Some(Err(error)) => {
                counters.connections_failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("closed a connection: {error}");
                return;
            }
            Some(Ok(frame)) => {
                if inbox.send(event(Bytes::from(frame.freeze()))).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve_client(
    framed: Framed<TcpStream, LengthDelimitedCodec>,
    inbox: mpsc::Sender<Event>,
    clients: Arc<ClientHub>,
    counters: Arc<TransportCounters>,
    cancel: CancellationToken,
) {
    let (mut sink, stream) = framed.split();
    let (id, mut replies) = clients.register(CLIENT_QUEUE_FRAMES_MAX);
    let writer_cancel = cancel.child_token();
    let writer_stop = writer_cancel.clone();
    let writer = tokio::spawn(async move {
        loop {
            let reply = tokio::select! {
                () = writer_stop.cancelled() => return,
                reply = replies.recv() => reply,
            };
            let Some(reply) = reply else { return };
            if sink.send(reply.0).await.is_err() {
                return;
            }
        }
    });
    read_frames(stream, cancel, &counters, |frame| Event::Client { from: id, frame }, &inbox).await;
    clients.remove(id);
    writer_cancel.cancel();
    let _ = writer.await;
}
