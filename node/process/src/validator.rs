//! One validator in a process: the production host over tokio and TCP.
//!
//! The runtime contract of [`zkcrowd_node::Host`] in a process:
//! 1. `now_ms` is wall-clock Unix milliseconds, never going backwards (block timestamps are Unix
//!    seconds, as on Ethereum).
//! 2. A timer is a tokio task that sleeps, then feeds the host; timers go through their own
//!    unbounded channel, since a lost timer could stall consensus (the node keeps a bounded
//!    number of them armed).
//! 3. Peers and clients are the [`crate::transport`] links and listener.
//! 4. Commits go to the log, to [`ValidatorHandle::head`], to the JSON-RPC server's index of
//!    recent blocks and to its `newHeads` subscribers; evidence to the log.
//! 5. Storage: the node's state lives in the [`Node`] value; [`start_validator`] with
//!    `restarted: true` restarts a node value that was running (its write-ahead log kept).
//! 6. The L1: with [`ValidatorOptions::l1`], a submission agent ([`crate::l1`]) posts the node's
//!    wrapped ranges.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use zkcrowd_consensus::ValidatorIndex;
use zkcrowd_node::{CommitReport, Event, Evidence, Host, Node, Runtime, Timer, WriteAheadLog};
use zkcrowd_protocol::ClientId;

use crate::index::{ChainIndex, IndexedBlock};
use crate::l1::L1Config;
use crate::rpc::{self, HEADS_QUEUE_MAX, RpcContext};
use crate::store::Store;
use crate::transport::{self, ClientGone, ClientHub, INBOX_EVENTS_MAX, PeerLink, TransportCounters};

/// The committed head as a validator last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    /// Height.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

/// A validator's runtime in a process (see the module documentation).
#[derive(Debug)]
pub struct ValidatorRuntime {
    index: ValidatorIndex,
    last_ms: AtomicU64,
    timers: mpsc::UnboundedSender<Timer>,
    /// Outbound links by validator index (`None` for this validator).
    peers: Vec<Option<PeerLink>>,
    clients: Arc<ClientHub>,
    counters: Arc<TransportCounters>,
    head: watch::Sender<Head>,
    blocks: Arc<RwLock<ChainIndex>>,
    heads: broadcast::Sender<IndexedBlock>,
    store: Option<Arc<Store>>,
    cancel: CancellationToken,
}

/// How to start a validator besides its node and addresses.
#[derive(Default)]
pub struct ValidatorOptions {
    /// Serve JSON-RPC here.
    pub rpc: Option<SocketAddr>,
    /// The node value ran before and crashed, or was restored from disk
    /// ([`zkcrowd_node::Host::start`]).
    pub restarted: bool,
    /// Write committed blocks and the write-ahead log here.
    pub store: Option<Arc<Store>>,
    /// The RPC's index of the blocks replayed from disk (default: it starts at the node's head).
    pub history: Option<ChainIndex>,
    /// Run an L1 submission agent with this configuration and key.
    pub l1: Option<(L1Config, PrivateKeySigner)>,
}

impl Runtime for ValidatorRuntime {
    fn now_ms(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.last_ms.fetch_max(wall, Ordering::Relaxed).max(wall)
    }

    fn set_timer(&self, after_ms: u64, timer: Timer) {
        let (timers, cancel) = (self.timers.clone(), self.cancel.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(after_ms)) => { let _ = timers.send(timer); }
            }
        });
    }

    fn send_peer(&self, to: ValidatorIndex, frame: Bytes) {
        let sent = self.peers.get(usize::from(to)).and_then(Option::as_ref).is_some_and(|link| link.send(frame));
        if !sent {
            self.counters.peer_frames_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn send_client(&self, to: ClientId, frame: Bytes) {
        let counter = match self.clients.send(to, frame) {
            Ok(()) => return,
            Err(ClientGone::Full) => &self.counters.client_frames_dropped,
            Err(ClientGone::Unknown) => &self.counters.client_frames_unrouted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn committed(&self, report: &CommitReport) {
        if let Some(store) = &self.store
            && let Err(error) = store.put_block(&report.committed)
        {
            tracing::error!(
                validator = self.index,
                "cannot write block {}: {error}",
                report.committed.block.header.number
            );
            std::process::abort();
        }
        let block = &report.outcome.block;
        let head = Head { number: block.header.number, hash: block.header.hash() };
        tracing::info!(validator = self.index, height = head.number, hash = %head.hash, txs = block.transactions.len(), "committed");
        self.head.send_replace(head);
        let mut blocks = self.blocks.write().expect("index lock");
        blocks.push(&report.outcome);
        if let Some(block) = blocks.head() {
            // Nobody listening is fine.
            let _ = self.heads.send(block.clone());
        }
    }

    fn evidence(&self, evidence: &Evidence) {
        tracing::warn!(validator = self.index, signer = %evidence.first.signer, "equivocation evidence");
    }

    fn persist(&self, wal: &WriteAheadLog) {
        if let Some(store) = &self.store
            && let Err(error) = store.put_wal(wal)
        {
            // Voting on without the log on disk could break safety after a restart: stop here,
            // as a crash would (the log written last is consistent).
            tracing::error!(validator = self.index, "cannot write the write-ahead log: {error}");
            std::process::abort();
        }
    }
}

/// A running validator.
pub struct ValidatorHandle {
    /// Its node (its chain, mempool and write-ahead log): the state a restart keeps.
    pub node: Arc<Mutex<Node>>,
    /// Its committed head.
    pub head: watch::Receiver<Head>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its JSON-RPC server listens, if it runs one.
    pub rpc: Option<SocketAddr>,
    /// What its transport dropped.
    pub counters: Arc<TransportCounters>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    rpc_server: Option<jsonrpsee::server::ServerHandle>,
}

impl ValidatorHandle {
    /// Stops every task of the validator (a crash: nothing is flushed) and waits for the host.
    pub async fn stop(self) -> Arc<Mutex<Node>> {
        if let Some(server) = &self.rpc_server {
            let _ = server.stop();
            server.clone().stopped().await;
        }
        self.cancel.cancel();
        let _ = self.task.await;
        self.node
    }
}

/// Starts validator `node` on `listener`, dialling `peers` (by index; its own entry is ignored),
/// as `options` say.
pub async fn start_validator(
    node: Arc<Mutex<Node>>,
    listener: TcpListener,
    peers: &[SocketAddr],
    options: ValidatorOptions,
) -> std::io::Result<ValidatorHandle> {
    let ValidatorOptions { rpc, restarted, store, history, l1 } = options;
    let addr = listener.local_addr()?;
    let (index, validators, head, chain_index) = {
        let node = node.lock().expect("node lock");
        let chain_head = node.chain().head();
        let head = Head { number: chain_head.number, hash: node.chain().head_hash() };
        let chain_index = history.unwrap_or_else(|| ChainIndex::starting_at(chain_head.clone()));
        (node.index(), u16::try_from(node.validator_count()).expect("at most 2^16 validators"), head, chain_index)
    };
    let chain_index = Arc::new(RwLock::new(chain_index));
    let (heads, _) = broadcast::channel(HEADS_QUEUE_MAX);
    assert_eq!(peers.len(), usize::from(validators), "one address per validator");
    let cancel = CancellationToken::new();
    let counters = Arc::new(TransportCounters::default());
    let clients: Arc<ClientHub> = Arc::default();
    let (inbox, mut events) = mpsc::channel::<Event>(INBOX_EVENTS_MAX);
    let (timers, mut timer_events) = mpsc::unbounded_channel::<Timer>();
    transport::spawn_listener(listener, validators, inbox.clone(), clients.clone(), counters.clone(), cancel.clone());
    let l1_view = Arc::new(RwLock::new(None));
    if let Some((config, key)) = l1 {
        crate::l1::spawn_agent(config, key, usize::from(index), node.clone(), l1_view.clone(), cancel.clone())
            .map_err(std::io::Error::other)?;
    }
    let rpc_server = match rpc {
        None => None,
        Some(addr) => {
            let context = RpcContext {
                node: node.clone(),
                index: chain_index.clone(),
                inbox,
                clients: clients.clone(),
                heads: heads.clone(),
                sessions: Mutex::default(),
                l1: l1_view,
            };
            Some(rpc::serve(addr, Arc::new(context)).await?)
        }
    };
    let (rpc, rpc_server) = rpc_server.map(|(addr, handle)| (Some(addr), Some(handle))).unwrap_or_default();
    let links = peers
        .iter()
        .enumerate()
        .map(|(i, addr)| (i != usize::from(index)).then(|| PeerLink::spawn(index, *addr, cancel.clone())))
        .collect();
    let (head_tx, head_rx) = watch::channel(head);
    let runtime = ValidatorRuntime {
        index,
        last_ms: AtomicU64::new(0),
        timers,
        peers: links,
        clients,
        counters: counters.clone(),
        head: head_tx,
        blocks: chain_index,
        heads,
        store,
        cancel: cancel.clone(),
    };
    let mut host = Host::new(node.clone(), runtime);
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        host.start(restarted);
        loop {
            // Messages before timers when both are ready, as in the simulator.
            let event = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                Some(event) = events.recv() => event,
                Some(timer) = timer_events.recv() => Event::Timer(timer),
                else => return,
            };
            // The node is synchronous; a long block execution should not starve the runtime's
            // other tasks (readers, writers, timers).
            tokio::task::block_in_place(|| host.handle(event));
        }
    });
    Ok(ValidatorHandle { node, head: head_rx, addr, rpc, counters, cancel, task, rpc_server })
}
