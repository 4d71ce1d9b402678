//! The validator host: everything a running validator does besides I/O, over a small runtime
//! interface, so the simulator and a real process run the same code.
//!
//! [`Node`] is the sans-I/O state machine; the host is its driver. It decodes every frame it
//! receives with the wire codec (a frame that does not decode is a counted drop with its reason,
//! [`crate::NodeCounters::frames_malformed`], never a panic), hands the message to the node, and
//! carries out the node's outputs: it encodes each outgoing message once (a broadcast's frame goes
//! to every other validator), asks the runtime for timers, and reports commits and evidence.
//!
//! # Runtime contract
//!
//! A [`Runtime`] supplies the clock, the timers, the transport and the reports:
//! 1. `now_ms` is monotonic milliseconds (virtual time in a simulation).
//! 2. `set_timer(after_ms, timer)` feeds [`Event::Timer`]`(timer)` back to [`Host::handle`] after
//!    `after_ms`; timers are never cancelled (the node ignores stale ones).
//! 3. `send_peer` and `send_client` deliver a frame best effort (links lose messages; the node
//!    re-sends what liveness needs). The transport names the sender of what it delivers
//!    ([`Event::Peer::from`], [`Event::Client::from`]), as a connection does.
//! 4. Storage: the node keeps its chain, block store and write-ahead log in itself. A runtime with
//!    a disk writes each committed block (with its signed certificate, [`CommitReport::committed`])
//!    when `committed` reports it, and the write-ahead log whenever it changed, in `persist`,
//!    which the host calls *before* carrying out the outputs that follow the change (the log must
//!    be on disk before the votes it records leave). After a crash the runtime rebuilds the node
//!    ([`Node::restore`]) and calls [`Host::start`] with `restarted: true`. The simulator's crash
//!    keeps the [`Node`] value itself (its disk), so its `persist` does nothing.
//!
//! The simulator's runtime is madsim's (`sim/src/agents.rs`); the event loop is [`run`], the same
//! for every runtime.

use std::sync::{Arc, Mutex};

use alloy::primitives::Bytes;
use futures::{Stream, StreamExt};
use zkcrowd_consensus::ValidatorIndex;
use zkcrowd_protocol::{ClientId, ClientRequest, decode, encode};

use crate::node::{CommitReport, Input, Node, Output, Timer};
use crate::wal::WriteAheadLog;
use crate::wire::{Evidence, PeerMessage};

/// What a validator's host needs from its surroundings (see the module documentation).
pub trait Runtime {
    /// Milliseconds since the runtime's epoch, monotonic.
    fn now_ms(&self) -> u64;
    /// Feed [`Event::Timer`]`(timer)` back after `after_ms`.
    fn set_timer(&self, after_ms: u64, timer: Timer);
    /// Send a frame to validator `to`.
    fn send_peer(&self, to: ValidatorIndex, frame: Bytes);
    /// Send a frame to client connection `to`.
    fn send_client(&self, to: ClientId, frame: Bytes);
    /// A block was committed (for the runtime's log and metrics).
    fn committed(&self, report: &CommitReport);
    /// A validator equivocated (for the runtime's evidence record).
    fn evidence(&self, evidence: &Evidence);
    /// The write-ahead log changed: write it before the outputs that follow are carried out.
    fn persist(&self, wal: &WriteAheadLog);
}

/// What reaches the host.
#[derive(Debug, Clone)]
pub enum Event {
    /// A frame from validator `from`.
    Peer {
        /// The sender, as the transport knows it.
        from: ValidatorIndex,
        /// The encoded [`PeerMessage`].
        frame: Bytes,
    },
    /// A frame from a client connection.
    Client {
        /// The connection.
        from: ClientId,
        /// The encoded [`ClientRequest`].
        frame: Bytes,
    },
    /// A timer the node asked for.
    Timer(Timer),
}

/// A validator's host: its node, its runtime, and the validator set's size (for broadcasts).
pub struct Host<R> {
    node: Arc<Mutex<Node>>,
    runtime: R,
    validators: u16,
    /// The write-ahead log's change count when it was last persisted.
    wal_persisted: u64,
}

impl<R: Runtime> Host<R> {
    /// The host of `node` (shared with the runtime's observers) over `runtime`.
    pub fn new(node: Arc<Mutex<Node>>, runtime: R) -> Self {
        let validators = {
            let node = node.lock().expect("node lock");
            u16::try_from(node.validator_count()).expect("at most 2^16 validators")
        };
        let wal_persisted = node.lock().expect("node lock").wal().changes();
        Self { node, runtime, validators, wal_persisted }
    }

    /// Boots the node; after a crash (`restarted`), first drops what the crash lost
    /// ([`Node::restart`]), so that `Start` recovers consensus from the write-ahead log.
    pub fn start(&mut self, restarted: bool) {
        let outputs = {
            let mut node = self.node.lock().expect("node lock");
            if restarted {
                node.restart();
            }
            let outputs = node.handle(self.runtime.now_ms(), Input::Start);
            persist(&self.runtime, &mut self.wal_persisted, &node);
            outputs
        };
        self.execute(outputs);
    }

    /// Handles one event: decodes a frame (counting one that does not decode), runs the node,
    /// carries out its outputs.
    pub fn handle(&mut self, event: Event) {
        let now_ms = self.runtime.now_ms();
        let outputs = {
            let mut node = self.node.lock().expect("node lock");
            let input = match event {
                Event::Peer { from, frame } => match decode::<PeerMessage>(&frame) {
                    Ok(message) => Input::Peer { from, message },
                    Err(error) => {
                        node.frame_refused(&error);
                        return;
                    }
                },
                Event::Client { from, frame } => match decode::<ClientRequest>(&frame) {
                    Ok(request) => Input::Client { from, request },
                    Err(error) => {
                        node.frame_refused(&error);
                        return;
                    }
                },
                Event::Timer(timer) => Input::Timer(timer),
            };
            let outputs = node.handle(now_ms, input);
            persist(&self.runtime, &mut self.wal_persisted, &node);
            outputs
        };
        self.execute(outputs);
    }

    fn execute(&mut self, outputs: Vec<Output>) {
        let me = self.node.lock().expect("node lock").index();
        for output in outputs {
            match output {
                Output::ToPeer { to, message } => self.runtime.send_peer(to, Bytes::from(encode(&message))),
                Output::Broadcast(message) => {
                    let frame = Bytes::from(encode(&message));
                    for to in (0..self.validators).filter(|v| *v != me) {
                        self.runtime.send_peer(to, frame.clone());
                    }
                }
                Output::ToClient { to, message } => self.runtime.send_client(to, Bytes::from(encode(&message))),
                Output::SetTimer { timer, after_ms } => self.runtime.set_timer(after_ms, timer),
                Output::Committed(report) => self.runtime.committed(&report),
                Output::Evidence(evidence) => self.runtime.evidence(&evidence),
            }
        }
    }
}

/// Hands the write-ahead log to the runtime if it changed since `persisted`.
fn persist<R: Runtime>(runtime: &R, persisted: &mut u64, node: &Node) {
    let changes = node.wal().changes();
    if changes != *persisted {
        runtime.persist(node.wal());
        *persisted = changes;
    }
}

/// The event loop: handles events until the stream ends (the runtime shut the node down).
pub async fn run<R: Runtime>(mut host: Host<R>, mut inbox: impl Stream<Item = Event> + Unpin) {
    while let Some(event) = inbox.next().await {
        host.handle(event);
    }
}
