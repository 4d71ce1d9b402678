//! The simulated network, on madsim endpoints.
//!
//! 1. Every simulated machine (validator, plugin, the users' load generator) is a madsim node with
//!    one endpoint. Messages travel as bytes: the wire codec (`zkcrowd_protocol::codec`) encodes
//!    them at the sender and decodes them at the receiver, as between processes, so every run
//!    exercises it; a frame that does not decode is a counted drop with its reason
//!    ([`NetStats::malformed`]), never a panic.
//! 2. A message between two validators uses the `validators` link class, any other the `clients`
//!    class: it is delayed by `latency + uniform(0, jitter)` and lost with the class's loss
//!    probability plus that of any active `message_loss` fault.
//! 3. A partition drops every message crossing it. A crashed node (madsim `kill`) receives
//!    nothing until it restarts.
//! 4. All randomness comes from madsim's seeded generator, so a seed fixes every delay and loss.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::Bytes;
use madsim::net::Endpoint;
use madsim::rand::Rng;
use zkcrowd_consensus::ValidatorIndex;
use zkcrowd_node::PeerMessage;
use zkcrowd_protocol::{ClientId, ClientMessage, ClientRequest, DecodeError, decode, encode};

use crate::scenario::{LinkClass, LinkSet};

/// The single tag of every message.
const TAG: u64 = 1;
/// The port every node listens on.
const PORT: u16 = 1;

/// Who a simulated machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Validator `i`.
    Validator(ValidatorIndex),
    /// A client machine: the users' load generator (0) or plugin `i` (`i + 1`).
    Client(u32),
}

impl Role {
    /// The machine's address.
    pub fn addr(self) -> SocketAddr {
        let ip = match self {
            Self::Validator(i) => Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
            Self::Client(k) => Ipv4Addr::new(10, 1 + (k >> 16) as u8, (k >> 8) as u8, k as u8),
        };
        SocketAddr::new(IpAddr::V4(ip), PORT)
    }

    /// The client id a validator sees for this machine.
    pub fn client_id(self) -> ClientId {
        match self {
            Self::Validator(i) => u64::from(i) | 1 << 40,
            Self::Client(k) => u64::from(k),
        }
    }

    /// The client machine with this id.
    pub fn from_client_id(id: ClientId) -> Self {
        Self::Client(u32::try_from(id).expect("client ids are u32"))
    }
}

/// A message, decoded.
#[derive(Debug)]
pub enum Wire {
    /// Validator to validator.
    Peer {
        /// The sender.
        from: ValidatorIndex,
        /// The message.
        message: PeerMessage,
    },
    /// Client to validator.
    Request {
        /// The sender.
        from: ClientId,
        /// The request.
        request: ClientRequest,
    },
    /// Validator to client.
    Response(ClientMessage),
}

/// What travels: who sent it (the transport's knowledge, like a connection's peer) and the
/// encoded message. Cloning shares the bytes, so a broadcast encodes once.
#[derive(Debug, Clone)]
pub struct Frame {
    header: FrameHeader,
    bytes: Bytes,
}

#[derive(Debug, Clone, Copy)]
enum FrameHeader {
    Peer(ValidatorIndex),
    Request(ClientId),
    Response,
}

impl Wire {
    /// Encodes the message.
    pub fn encode(&self) -> Frame {
        let (header, bytes) = match self {
            Self::Peer { from, message } => (FrameHeader::Peer(*from), encode(message)),
            Self::Request { from, request } => (FrameHeader::Request(*from), encode(request)),
            Self::Response(message) => (FrameHeader::Response, encode(message)),
        };
        Frame { header, bytes: Bytes::from(bytes) }
    }
}

impl Frame {
    /// A validator's encoded peer message.
    pub fn peer(from: ValidatorIndex, bytes: Bytes) -> Self {
        Self { header: FrameHeader::Peer(from), bytes }
    }

    /// A validator's encoded message to a client.
    pub fn response(bytes: Bytes) -> Self {
        Self { header: FrameHeader::Response, bytes }
    }

    /// A client's encoded request.
    pub fn request(from: ClientId, bytes: Bytes) -> Self {
        Self { header: FrameHeader::Request(from), bytes }
    }

    /// The frame as a plugin host's event (its host decodes it); `None` for a message a plugin
    /// does not expect (one meant for a validator).
    pub fn into_plugin_event(self) -> Option<zkcrowd_client::PluginEvent> {
        match self.header {
            FrameHeader::Response => Some(zkcrowd_client::PluginEvent::Frame(self.bytes)),
            FrameHeader::Peer(_) | FrameHeader::Request(_) => None,
        }
    }

    /// The frame as a validator host's event (its node decodes it); `None` for a message to a
    /// client, which a validator does not expect.
    pub fn into_event(self) -> Option<zkcrowd_node::Event> {
        match self.header {
            FrameHeader::Peer(from) => Some(zkcrowd_node::Event::Peer { from, frame: self.bytes }),
            FrameHeader::Request(from) => Some(zkcrowd_node::Event::Client { from, frame: self.bytes }),
            FrameHeader::Response => None,
        }
    }

    /// Decodes the message.
    pub fn decode(&self) -> Result<Wire, DecodeError> {
        Ok(match self.header {
            FrameHeader::Peer(from) => Wire::Peer { from, message: decode(&self.bytes)? },
            FrameHeader::Request(from) => Wire::Request { from, request: decode(&self.bytes)? },
            FrameHeader::Response => Wire::Response(decode(&self.bytes)?),
        })
    }

    /// The encoded size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[derive(Debug, Clone)]
struct Loss {
    rate: f64,
    links: LinkSet,
    until_ms: u64,
}

#[derive(Debug, Default)]
struct Faults {
    losses: Vec<Loss>,
    /// Validators cut off from everything else, until when.
    /// Active and past partitions: each cuts its side off from everyone else until its end, and
    /// overlapping ones all apply (a message is dropped if any active one separates its ends).
    partitions: Vec<(BTreeSet<ValidatorIndex>, u64)>,
}

/// The network's configuration and its current faults, shared by every node.
#[derive(Debug, Clone)]
pub struct Net {
    validators: LinkClass,
    clients: LinkClass,
    faults: Arc<Mutex<Faults>>,
    stats: Arc<Mutex<NetStats>>,
}

/// Message counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages dropped by loss.
    pub lost: u64,
    /// Messages dropped by a partition.
    pub partitioned: u64,
    /// Frames that did not decode at their receiver (logged with the reason).
    pub malformed: u64,
    /// Bytes sent (encoded frames, lost ones included).
    pub bytes: u64,
}

impl Net {
    /// A network with these link classes.
    pub fn new(validators: LinkClass, clients: LinkClass) -> Self {
        Self { validators, clients, faults: Arc::default(), stats: Arc::default() }
    }

    /// Adds message loss on `links` until `until_ms`.
    pub fn add_loss(&self, rate: f64, links: LinkSet, until_ms: u64) {
        self.faults.lock().expect("net lock").losses.push(Loss { rate, links, until_ms });
    }

    /// Cuts `side` off from everyone else from `now_ms` until `until_ms`.
    pub fn partition(&self, side: BTreeSet<ValidatorIndex>, now_ms: u64, until_ms: u64) {
        let mut faults = self.faults.lock().expect("net lock");
        // Expired partitions are dropped here, so the list holds at most the overlapping ones.
        faults.partitions.retain(|(_, until)| *until > now_ms);
        faults.partitions.push((side, until_ms));
    }

    /// Counts a frame that did not decode at its receiver, and logs the reason.
    pub fn refused(&self, error: &DecodeError) {
        self.stats.lock().expect("net lock").malformed += 1;
        tracing::warn!(reason = error.reason(), "dropped a frame: {error}");
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        *self.stats.lock().expect("net lock")
    }

    /// Sends `wire` from `from` to `to` over `endpoint`, with the link's delay and loss.
    pub fn send(&self, endpoint: &Endpoint, now_ms: u64, from: Role, to: Role, wire: &Wire) {
        self.send_frame(endpoint, now_ms, from, to, wire.encode());
    }

    /// Sends an encoded message (a broadcast encodes once and sends the frame to each peer).
    pub fn send_frame(&self, endpoint: &Endpoint, now_ms: u64, from: Role, to: Role, frame: Frame) {
        let both_validators = matches!((from, to), (Role::Validator(_), Role::Validator(_)));
        let class = if both_validators { self.validators } else { self.clients };
        let (loss, crosses) = {
            let faults = self.faults.lock().expect("net lock");
            let fault_loss: f64 = faults
                .losses
                .iter()
                .filter(|l| l.until_ms > now_ms)
                .filter(|l| match l.links {
                    LinkSet::All => true,
                    LinkSet::Validators => both_validators,
                    LinkSet::Clients => !both_validators,
                })
                .map(|l| l.rate)
                .sum();
            let inside = |role: Role, side: &BTreeSet<ValidatorIndex>| match role {
                Role::Validator(i) => side.contains(&i),
                Role::Client(_) => false,
            };
            let crosses =
                faults.partitions.iter().any(|(side, until)| *until > now_ms && inside(from, side) != inside(to, side));
            ((class.loss + fault_loss).min(1.0), crosses)
        };
        let mut rng = madsim::rand::thread_rng();
        let mut stats = self.stats.lock().expect("net lock");
        stats.sent += 1;
        stats.bytes += frame.size_bytes() as u64;
        if crosses {
            stats.partitioned += 1;
            return;
        }
        if loss > 0.0 && rng.gen_bool(loss) {
            stats.lost += 1;
            return;
        }
        drop(stats);
        let jitter = class.jitter.as_millis();
        let delay_ms = class.latency.as_millis() + if jitter > 0 { rng.gen_range(0..=jitter) } else { 0 };
        let endpoint = endpoint.clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(Duration::from_millis(delay_ms)).await;
            // A destination that is down loses the message, like a closed socket.
            let _ = endpoint.send_to_raw(to.addr(), TAG, Box::new(frame)).await;
        });
    }
}

/// Binds this machine's endpoint.
pub async fn bind(role: Role) -> Endpoint {
    Endpoint::bind(role.addr()).await.expect("bind the node's endpoint")
}

/// Receives the next message that decodes; one that does not is counted and logged with its
/// reason. Not cancellation-safe (madsim takes the message from the mailbox, then awaits a random
/// delay): never drop this future before it completes; use [`receiver`].
async fn recv(endpoint: &Endpoint, net: &Net) -> Wire {
    loop {
        let (payload, _) = endpoint.recv_from_raw(TAG).await.expect("endpoint receive");
        let Ok(frame) = payload.downcast::<Frame>() else { continue };
        match frame.decode() {
            Ok(wire) => return wire,
            Err(error) => net.refused(&error),
        }
    }
}

/// Starts a task that receives every frame of `endpoint`, undecoded, into a channel: a validator's
/// host decodes (and counts what does not decode) itself. Same task rules as [`receiver`].
pub fn frame_receiver(endpoint: &Endpoint) -> futures::channel::mpsc::UnboundedReceiver<Frame> {
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    let endpoint = endpoint.clone();
    madsim::task::spawn(async move {
        loop {
            let (payload, _) = endpoint.recv_from_raw(TAG).await.expect("endpoint receive");
            let Ok(frame) = payload.downcast::<Frame>() else { continue };
            if sender.unbounded_send(*frame).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Starts a task that receives every message of `endpoint` into a channel, so that a machine's
/// loop can `select` over the channel (cancellation-safe) and its timers without losing messages.
/// The task belongs to the current madsim node and dies with it.
pub fn receiver(endpoint: &Endpoint, net: &Net) -> futures::channel::mpsc::UnboundedReceiver<Wire> {
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    let endpoint = endpoint.clone();
    let net = net.clone();
    madsim::task::spawn(async move {
        loop {
            let wire = recv(&endpoint, &net).await;
            if sender.unbounded_send(wire).is_err() {
                return;
            }
        }
    });
    receiver
}
