//! The validator: a sans-I/O state machine that the simulator (madsim) and a real runtime drive
//! the same way: `handle(now_ms, input) -> outputs`.
//!
//! 1. Clients submit transactions; admitted ones enter the mempool and are forwarded to the other
//!    validators in batches every `gossip_interval_ms`.
//! 2. Consensus (Tendermint, `zkcrowd-consensus`) decides one block per height. The proposer of a
//!    round waits until `block_time_ms` after the previous commit, builds a block from its mempool
//!    and broadcasts it with the proposal. Every validator executes a proposal before voting on it;
//!    the executed block stays open (one at a time) so the common case, deciding the block just
//!    executed, commits without executing twice.
//! 3. On a decision the block is committed; included transactions leave the mempool; submitters
//!    hear `TxCommitted`; subscribed plugins hear their new assignments.
//! 4. A validator that sees messages for heights beyond its next one asks the sender for the
//!    committed blocks it lacks (with their certificates) and imports them.
//! 5. Consensus writes what it must not forget (height, round, own proposals and votes, lock and
//!    valid value) to a write-ahead log before the messages that depend on it leave
//!    ([`crate::WriteAheadLog`]). After a crash a validator keeps its disk (chain, block store,
//!    receipts, log) and loses the rest (mempool, received messages, subscriptions):
//!    [`Node::restart`], then `Start` rebuilds consensus from the log and rejoins the height with
//!    its lock and its votes.
//! 6. Proposals and votes are signed with the validator's key and checked on receipt (a bad
//!    signature is a counted drop); a decided block is stored with its certificate, the decision
//!    round's signed precommits, and block sync imports a block only under a valid certificate
//!    ([`crate::wire`]). While a height is undecided the node re-sends its own messages and
//!    relays the others' of its current round, signatures intact (the gossip Tendermint's liveness
//!    needs, host contract point 4 of `zkcrowd-consensus`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use alloy::consensus::Transaction;
use alloy::primitives::{Address, B256};
use zkcrowd_chain::{Block, BlockOutcome, Chain, SenderCache, SignedTx, TxPacket, TxRejection, check_sidecar};
use zkcrowd_consensus::{
    Consensus, HEIGHTS_AHEAD_MAX, Height, Input as ConsensusInput, Message, MessageKind, Output as ConsensusOutput,
    Round, Timeout, TimeoutParams, ValidatorIndex, ValidatorSet, WalEntry,
};
use zkcrowd_market::{EventKind, IZkcrowdMarket, JobStatus};
use zkcrowd_primitives::{BlockNumber, DevSigner, MARKET_ADDRESS};

use crate::mempool::{Mempool, NONCE_GAP_BLOCKS_MAX};
use crate::proven::{ProvenBlocks, ProvenRecord};
use crate::wal::WriteAheadLog;
use zkcrowd_protocol::{
    Assignment, ClientId, ClientMessage, ClientRequest, Eviction, MempoolError, TxRefusal, TxStatus,
};

use crate::wire::{
    Certificate, CommittedBlock, Evidence, GOSSIP_BYTES_MAX, PeerMessage, SYNC_RESPONSE_BYTES_MAX, SignedMessage,
    block_wire_bytes, packet_wire_bytes, slot,
};
use crate::witness::Witnesses;

/// Parameters of a validator.
#[derive(Debug, Clone)]
pub struct NodeParams {
    /// Minimum time between a commit and the next proposal.
    pub block_time_ms: u64,
    /// Mempool capacity.
    pub mempool_max: usize,
    /// Transactions per block offered to the builder.
    pub block_txs_max: usize,
    /// Market calls offered ahead of other transactions per block (the market lane; see the
    /// mempool's documentation). Of `block_txs_max`, not on top of it.
    pub market_lane_txs_max: usize,
    /// How often admitted transactions are forwarded to peers.
    pub gossip_interval_ms: u64,
    /// Most blocks in one sync response.
    pub sync_batch_max: usize,
    /// How long to wait for a sync response before asking again.
    pub sync_retry_ms: u64,
    /// Consensus timeouts.
    pub timeouts: TimeoutParams,
    /// Record ledger witnesses and serve them with assignments ([`Assignment::inputs`]), with
    /// the accepted real proofs aggregates need. Costs a Merkle path per ledger write.
    pub serve_witnesses: bool,
    /// Most committed blocks kept in memory to serve block sync and transaction receipts
    /// ([`ClientRequest::GetTransaction`]); older ones are dropped. A peer further behind than
    /// this cannot catch up by block sync (it would need state sync, which does not exist yet).
    pub store_blocks_max: usize,
}

impl NodeParams {
    /// Parameters for a chain with `block_time_ms` between blocks.
    pub fn for_block_time(block_time_ms: u64, mempool_max: usize) -> Self {
        Self {
            block_time_ms,
            mempool_max,
            block_txs_max: 2_000,
            market_lane_txs_max: 500,
            gossip_interval_ms: 100,
            sync_batch_max: 64,
            sync_retry_ms: 2_000,
            serve_witnesses: false,
            // ~2.3 hours of 2-second blocks: longer than any crash a scenario heals from.
            store_blocks_max: 4_096,
            timeouts: TimeoutParams {
                propose_ms: block_time_ms + 2_000,
                prevote_ms: 1_000,
                precommit_ms: 1_000,
                delta_ms: 500,
            },
        }
    }
}

/// A timer the node asks its host to fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A consensus timeout.
    Consensus(Timeout),
    /// Time to build this node's proposal.
    Propose {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// Forward admitted transactions.
    Gossip,
    /// A sync request may be repeated.
    SyncRetry,
    /// Re-send this node's consensus messages of the height (links lose messages; Tendermint's
    /// liveness assumes gossip eventually delivers them).
    Rebroadcast {
        /// The height it was set for.
        height: Height,
    },
}

/// Something that happened to the node.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum Input {
    /// Boot (or reboot after [`Node::restart`]).
    Start,
    /// A message from another validator.
    Peer {
        /// The sender.
        from: ValidatorIndex,
        /// The message.
        message: PeerMessage,
    },
    /// A request from a client.
    Client {
        /// The connection.
        from: ClientId,
        /// The request.
        request: ClientRequest,
    },
    /// A timer fired.
    Timer(Timer),
}

/// What the host must do.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum Output {
    /// Send to one validator.
    ToPeer {
        /// The recipient.
        to: ValidatorIndex,
        /// The message.
        message: PeerMessage,
    },
    /// Send to every other validator.
    Broadcast(PeerMessage),
    /// Send to a client.
    ToClient {
        /// The connection.
        to: ClientId,
        /// The message.
        message: ClientMessage,
    },
    /// Fire `timer` after `after_ms`.
    SetTimer {
        /// The timer.
        timer: Timer,
        /// Delay.
        after_ms: u64,
    },
    /// A block was committed (for the host's log and metrics).
    Committed(Box<CommitReport>),
    /// A validator equivocated: two different signed messages of one type in one round (for the
    /// host's evidence record; slashing would use it).
    Evidence(Evidence),
}

/// The market and the supply right after a commit (taken before anything else runs, such as
/// executing the next height's proposal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarketSnapshot {
    /// Active plugins.
    pub active_plugins: u64,
    /// Jobs waiting for an assignee.
    pub open_jobs: u64,
    /// Jobs assigned and unproven.
    pub assigned_jobs: u64,
    /// Blocks not yet fully proven.
    pub unproven_blocks: u64,
    /// Reward pool, wei.
    pub pool_wei: u128,
    /// Issued so far, wei.
    pub issued_wei: u128,
    /// The bounty a fresh tx job would earn now, wei.
    pub fresh_bounty_wei: u128,
    /// Pending transactions.
    pub mempool: u64,
    /// Sum of native balances in the ledger, wei (every account but the fee burn address).
    pub native_total_wei: u128,
    /// Sum of the plugins' market balances (signed), wei.
    pub market_balances_wei: i128,
}

/// A committed block as the node saw it.
#[derive(Debug, Clone)]
pub struct CommitReport {
    /// What executing it produced (transactions with roots, market events).
    pub outcome: BlockOutcome,
    /// Decision round.
    pub round: Round,
    /// Precommitting validators.
    pub certificate: Vec<ValidatorIndex>,
    /// The block with its signed certificate, as the block store keeps it (what a host with a
    /// disk writes).
    pub committed: CommittedBlock,
    /// Imported by block sync rather than decided by this node's consensus.
    pub synced: bool,
    /// The market right after the commit.
    pub market: MarketSnapshot,
    /// The supply identity right after the commit ([`Chain::check_supply`]).
    pub supply: Result<(), String>,
}

/// Why a committed block (from block sync or from the node's own disk) was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImportRefusal {
    /// It is not the next height.
    #[error("not the next height")]
    NotNext,
    /// Its hash is not its header's, or it executed to another header.
    #[error("its hash does not match its header")]
    HashMismatch,
    /// Its certificate does not hold (too little stake, a bad signature, another block).
    #[error("its certificate does not hold")]
    BadCertificate,
    /// It does not execute on the chain.
    #[error("it does not execute")]
    InvalidBlock,
}

/// A stored block that did not replay ([`Node::restore`]): the disk is not this chain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored block {number} does not replay: {refusal}")]
pub struct RestoreError {
    /// The block.
    pub number: BlockNumber,
    /// Why.
    pub refusal: ImportRefusal,
}

/// Inputs this node dropped or refused, by cause, for the host to read ([`Node::counters`]).
/// Nothing a peer or a client sends is dropped without counting here (or answering with a typed
/// refusal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Peer messages whose sender is not in the validator set.
    pub peer_messages_from_unknown: u64,
    /// Proposals not from the round's proposer, or beyond [`VERDICTS_PER_HEIGHT_MAX`].
    pub proposals_dropped: u64,
    /// Proposals for later heights beyond [`FUTURE_HEIGHTS_MAX`] or [`FUTURE_PROPOSALS_MAX`].
    pub future_proposals_dropped: u64,
    /// Forwarded transactions beyond [`FORWARDED_TXS_MAX`] in one message.
    pub forwarded_txs_dropped: u64,
    /// Forwarded transactions refused as invalid or by the mempool (duplicates not counted).
    pub forwarded_txs_refused: u64,
    /// Sync responses with more blocks than `sync_batch_max`.
    pub sync_oversize: u64,
    /// Synced blocks whose certificate does not prove the decision ([`crate::CertificateError`]:
    /// an unknown or repeated validator, a bad signature, no quorum).
    pub sync_bad_certificate: u64,
    /// Consensus messages whose signature does not verify ([`crate::SignatureError`]).
    pub bad_signatures: u64,
    /// Frames from peers or clients that did not decode ([`zkcrowd_protocol::DecodeError`]; the
    /// reason is logged by [`Node::frame_refused`]).
    pub frames_malformed: u64,
    /// Equivocations consensus detected whose two signed messages this node no longer held
    /// (beyond [`SIGNED_MESSAGES_MAX`]): not reported as evidence.
    pub evidence_unsigned: u64,
    /// Decisions whose certificate this node could not assemble from the signed precommits it
    /// held: the block is committed, but peers cannot sync it from this node.
    pub certificates_incomplete: u64,
    /// Synced blocks whose header does not hash to the claimed hash.
    pub sync_hash_mismatch: u64,
    /// Synced blocks that do not execute on this chain.
    pub sync_invalid_block: u64,
    /// Sync requests for blocks older than the store keeps (`store_blocks_max`).
    pub sync_requests_unserved: u64,
    /// Decided blocks that did not execute here (fetched by sync instead).
    pub decided_blocks_failed: u64,
    /// Subscriptions evicted, oldest first, beyond [`SUBSCRIPTIONS_MAX`].
    pub subscriptions_evicted: u64,
    /// Proof watchers evicted, oldest first, beyond [`WATCHERS_MAX`].
    pub watchers_evicted: u64,
    /// Restarts whose write-ahead log consensus could not recover from (the node then waited for
    /// the next height).
    pub wal_unusable: u64,
    /// Admitted transactions evicted from the mempool behind a missing nonce
    /// ([`zkcrowd_protocol::Eviction`]).
    pub txs_evicted: u64,
}

/// A map bounded by `capacity` that evicts its oldest entry (by last insertion) when full.
#[derive(Debug, Clone)]
struct Recent<K, V> {
    entries: BTreeMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
    next: u64,
    capacity: usize,
}

impl<K: Ord + Copy, V> Recent<K, V> {
    fn new(capacity: usize) -> Self {
        Self { entries: BTreeMap::new(), order: BTreeMap::new(), next: 0, capacity: capacity.max(1) }
    }

    /// Inserts or refreshes `key`; returns whether an older entry was evicted to make room.
    fn insert(&mut self, key: K, value: V) -> bool {
        if let Some((_, sequence)) = self.entries.remove(&key) {
            self.order.remove(&sequence);
        }
        let mut evicted = false;
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
            evicted = true;
        }
        self.order.insert(self.next, key);
        self.entries.insert(key, (value, self.next));
        self.next += 1;
        evicted
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let (value, sequence) = self.entries.remove(key)?;
        self.order.remove(&sequence);
        Some(value)
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.keys()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

/// One validator.
pub struct Node {
    me: ValidatorIndex,
    validators: ValidatorSet,
    params: NodeParams,
    chain: Chain,
    /// The last `store_blocks_max` committed blocks, oldest first (kept across a crash: disk).
    store: VecDeque<CommittedBlock>,
    /// Committed transactions of the blocks in `store`: hash → (block, receipt status). Looked up,
    /// never iterated; bounded with the store (a block's entries leave with it).
    receipts: BTreeMap<B256, (BlockNumber, bool)>,
    consensus: Consensus,
    mempool: Mempool,
    senders: Arc<SenderCache>,
    /// Proposed blocks at the current height, by hash.
    proposals: BTreeMap<B256, Block>,
    /// Validity verdicts at the current height.
    verdicts: BTreeMap<B256, bool>,
    /// The open (executed, uncommitted) block.
    executed: Option<BlockOutcome>,
    /// Proposals for later heights, replayed when the height starts.
    future: BTreeMap<Height, Vec<(ValidatorIndex, Message, Box<Block>)>>,
    gossip: Vec<TxPacket>,
    /// Wire bytes of `gossip` ([`packet_wire_bytes`]), kept under [`GOSSIP_BYTES_MAX`].
    gossip_bytes: usize,
    sync_pending: bool,
    /// A decision whose block this node does not have.
    undelivered: Option<(Height, Round, B256, Vec<ValidatorIndex>)>,
    /// Plugin → the client to push its assignments to ([`SUBSCRIPTIONS_MAX`], oldest evicted).
    subscriptions: Recent<Address, ClientId>,
    /// Inputs of real proofs for live jobs ([`NodeParams::serve_witnesses`]).
    witnesses: Witnesses,
    /// Clients that hear every admitted proof submission ([`WATCHERS_MAX`], oldest evicted).
    watchers: Recent<ClientId, ()>,
    /// Submitter of each tx this node admitted from a client. Bounded by the mempool: an entry is
    /// made only for a tx entering the mempool and removed whenever that tx leaves it (committed,
    /// refused by the builder, or pruned as stale). Looked up, never iterated.
    origins: BTreeMap<B256, ClientId>,
    last_commit_ms: u64,
    now_ms: u64,
    /// Fully proven blocks of this node's chain, for its L1 submission agent (kept across a crash:
    /// derived from the committed chain).
    proven: ProvenBlocks,
    /// The write-ahead log of consensus (kept across a crash, with the chain: its disk).
    wal: WriteAheadLog,
    /// Set by [`Node::restart`]: the next `Start` recovers consensus from the log.
    recovering: bool,
    /// This node's consensus messages at the current height, signed, for re-sending.
    sent_at_height: Vec<SignedMessage>,
    /// This validator's key: signs its proposals and votes.
    key: DevSigner,
    /// Verified signed messages of the current and the next heights, the first per slot (height,
    /// round, type, signer), own ones included: duplicates skip verification, decisions take their
    /// certificates from here, equivocations their first message, and rebroadcasts relay them.
    /// Bounded by [`SIGNED_MESSAGES_MAX`] (the lowest slot is dropped first).
    signed: BTreeMap<(Height, Round, MessageKind, ValidatorIndex), SignedMessage>,
    /// The message being delivered to consensus, for the evidence of an equivocation it reveals.
    incoming: Option<SignedMessage>,
    /// Deliberate bugs switched on by a test host ([`Node::set_test_bug`]), and whether the
    /// one-shot `CommitOwnProposal` has fired.
    #[cfg(feature = "test-bugs")]
    test_bugs: (Vec<zkcrowd_primitives::TestBug>, bool),
    counters: NodeCounters,
}

/// Own consensus messages kept for re-sending at one height.
const REBROADCAST_MESSAGES_MAX: usize = 64;
/// Others' messages relayed per rebroadcast (those of the current round and of the polka round:
/// three per validator and round).
const RELAYED_MESSAGES_MAX: usize = 6 * zkcrowd_chain::VALIDATORS_MAX;
/// Verified signed messages kept ([`Node`]'s `signed`). A height needs three per validator and
/// round (at most 64 validators, [`zkcrowd_chain::VALIDATORS_MAX`]); this keeps 85 full rounds.
pub const SIGNED_MESSAGES_MAX: usize = 16_384;

/// Heights beyond the next one for which proposals are buffered.
const FUTURE_HEIGHTS_MAX: u64 = 2;
/// Proposals buffered per future height.
const FUTURE_PROPOSALS_MAX: usize = 8;
/// Distinct proposals executed per height. Each round has one proposer and an honest one proposes
/// once; a height rarely needs more than a few rounds, and each verdict costs a block execution, so
/// a faulty proposer cannot make this node execute more than this many blocks per height.
pub const VERDICTS_PER_HEIGHT_MAX: usize = 256;
/// Admitted transactions held for forwarding before the gossip timer fires; reaching it forwards
/// at once, so a burst of submissions never builds a batch larger than this.
pub const GOSSIP_BATCH_MAX: usize = 1_024;
/// Transactions taken from one forwarded batch: an honest peer's batches hold at most
/// [`GOSSIP_BATCH_MAX`]; the rest of a larger one is dropped (and counted).
pub const FORWARDED_TXS_MAX: usize = GOSSIP_BATCH_MAX;
/// Plugins with a subscription. Well above the plugins a validator serves (the largest shipped
/// scenario has 5,000 plugins over all validators); the oldest subscription is evicted to make
/// room, so a live plugin that resubscribes is never refused.
pub const SUBSCRIPTIONS_MAX: usize = 16_384;
/// Clients watching proof submissions. Each admitted proof is pushed to every watcher, so the bound
/// caps that fan-out; the oldest watcher is evicted to make room.
pub const WATCHERS_MAX: usize = 64;

impl Node {
    /// A validator `me` of `validators` over `chain` (at genesis, or as stored), signing with
    /// `key`.
    ///
    /// # Panics
    /// If `key` is not validator `me`'s (its address in the set): a host's configuration error.
    pub fn new(
        me: ValidatorIndex,
        validators: ValidatorSet,
        params: NodeParams,
        chain: Chain,
        senders: Arc<SenderCache>,
        key: DevSigner,
    ) -> Self {
        assert_eq!(key.address(), validators.address(me), "validator {me}'s key is not its address's");
        let consensus = Consensus::new(validators.clone(), Some(me), params.timeouts.clone());
        let mempool = Mempool::new(params.mempool_max);
        let mut chain = chain;
        chain.state_mut().set_record_witnesses(params.serve_witnesses);
        let proven = ProvenBlocks::new(chain.head().number, chain.head().ledger_root);
        Self {
            proven,
            me,
            validators,
            params,
            chain,
            store: VecDeque::new(),
            receipts: BTreeMap::new(),
            consensus,
            mempool,
            senders,
            proposals: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            executed: None,
            future: BTreeMap::new(),
            gossip: Vec::new(),
            gossip_bytes: 0,
            sync_pending: false,
            undelivered: None,
            subscriptions: Recent::new(SUBSCRIPTIONS_MAX),
            witnesses: Witnesses::default(),
            watchers: Recent::new(WATCHERS_MAX),
            origins: BTreeMap::new(),
            last_commit_ms: 0,
            now_ms: 0,
            wal: WriteAheadLog::new(),
            recovering: false,
            sent_at_height: Vec::new(),
            key,
            signed: BTreeMap::new(),
            incoming: None,
            #[cfg(feature = "test-bugs")]
            test_bugs: (Vec::new(), false),
            counters: NodeCounters::default(),
        }
    }

    /// **Test only**: switches on a deliberate bug (see [`zkcrowd_primitives::TestBug`]); chain
    /// and market bugs are passed on.
    #[cfg(feature = "test-bugs")]
    pub fn set_test_bug(&mut self, bug: zkcrowd_primitives::TestBug) {
        self.test_bugs.0.push(bug);
        self.chain.set_test_bug(bug);
    }

    #[cfg(feature = "test-bugs")]
    fn has_test_bug(&self, bug: zkcrowd_primitives::TestBug) -> bool {
        self.test_bugs.0.contains(&bug)
    }

    fn rebroadcast_ms(&self) -> u64 {
        self.params.block_time_ms * 2 + 1_000
    }

    /// A one-line description of the node's consensus state and, when any input was dropped,
    /// its [`NodeCounters`] (for run summaries and debugging).
    pub fn status(&self) -> String {
        let dropped = if self.counters == NodeCounters::default() {
            String::new()
        } else {
            format!(" dropped {:?}", self.counters)
        };
        format!(
            "height {} round {} step {:?} status {:?} locked {:?} executed {} proposals {} undelivered {} sync_pending {} mempool {}",
            self.height(),
            self.consensus.round(),
            self.consensus.step(),
            self.consensus.status(),
            self.consensus.locked().map(|(r, _)| r),
            self.executed.is_some(),
            self.proposals.len(),
            self.undelivered.is_some(),
            self.sync_pending,
            self.mempool.len(),
        ) + &dropped
    }

    /// The write-ahead log of consensus.
    pub fn wal(&self) -> &WriteAheadLog {
        &self.wal
    }

    /// Inputs dropped or refused, by cause.
    pub fn counters(&self) -> NodeCounters {
        self.counters
    }

    /// After a crash: keep the committed chain, block store, receipts and write-ahead log, lose
    /// everything else; the next [`Input::Start`] recovers consensus from the log.
    pub fn restart(&mut self) {
        if self.chain.has_open_block() {
            self.chain.revert_block();
        }
        self.executed = None;
        // Consensus is rebuilt from the write-ahead log when the host sends `Start`.
        self.recovering = true;
        self.consensus = Consensus::new(self.validators.clone(), Some(self.me), self.params.timeouts.clone());
        self.mempool = Mempool::new(self.params.mempool_max);
        self.proposals.clear();
        self.verdicts.clear();
        self.future.clear();
        self.gossip.clear();
        self.gossip_bytes = 0;
        self.signed.clear();
        self.incoming = None;
        self.sync_pending = false;
        self.undelivered = None;
        self.subscriptions.clear();
        self.watchers.clear();
        self.origins.clear();
    }

    /// Its parameters.
    pub fn params(&self) -> &NodeParams {
        &self.params
    }

    /// This validator's index.
    pub fn index(&self) -> ValidatorIndex {
        self.me
    }

    /// The number of validators.
    pub fn validator_count(&self) -> usize {
        self.validators.len()
    }

    /// A frame for this node did not decode: counted, and its reason logged.
    pub fn frame_refused(&mut self, error: &zkcrowd_protocol::DecodeError) {
        self.counters.frames_malformed += 1;
        tracing::debug!(validator = self.me, reason = error.reason(), "dropped a frame: {error}");
    }

    /// The committed chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The committed blocks kept (the last `store_blocks_max`), oldest first.
    pub fn blocks(&self) -> impl Iterator<Item = &CommittedBlock> {
        self.store.iter()
    }

    /// Fully proven blocks of this node's chain after `after`, contiguous, at most `max`: what its
    /// L1 submission agent posts.
    pub fn proven_blocks(&self, after: BlockNumber, max: usize) -> Vec<ProvenRecord> {
        self.proven.after(after, max)
    }

    /// Wrapped ranges on this node's chain after block `after`, contiguous, at most `max`: what
    /// its L1 submission agent posts.
    pub fn wrapped_ranges(&self, after: BlockNumber, max: usize) -> Vec<crate::WrappedRange> {
        self.proven.ranges_after(after, max)
    }

    /// The last block of the contiguous run of fully proven blocks on this node's chain.
    pub fn fully_proven_head(&self) -> BlockNumber {
        self.proven.head()
    }

    /// Hashes of the pending transactions (what a crash would drop), by sender then nonce.
    pub fn pending_hashes(&self) -> Vec<B256> {
        self.mempool.hashes()
    }

    /// The nonce `sender`'s next transaction should have: the state's, advanced past the
    /// consecutive nonces this node's mempool holds for it (`eth_getTransactionCount` at
    /// `pending`).
    pub fn pending_nonce(&self, sender: &Address) -> u64 {
        let mut nonce = self.chain.state().nonce(sender);
        while self.mempool.has_nonce(sender, nonce) {
            nonce += 1;
        }
        nonce
    }

    /// Pending transactions.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    fn height(&self) -> Height {
        self.chain.head().number + 1
    }

    /// Handles one input at `now_ms`.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        match input {
            Input::Start => {
                self.last_commit_ms = now_ms;
                self.sent_at_height.clear();
                out.push(Output::SetTimer { timer: Timer::Gossip, after_ms: self.params.gossip_interval_ms });
                out.push(Output::SetTimer {
                    timer: Timer::Rebroadcast { height: self.height() },
                    after_ms: self.rebroadcast_ms(),
                });
                if std::mem::take(&mut self.recovering) {
                    self.recover(&mut out);
                }
                if self.consensus.height() < self.height() {
                    let outputs = self.consensus.handle(ConsensusInput::StartHeight(self.height()));
                    self.run_consensus(outputs, &mut out);
                }
            }
            Input::Peer { from, message } => self.on_peer(from, message, &mut out),
            Input::Client { from, request } => self.on_client(from, request, &mut out),
            Input::Timer(timer) => self.on_timer(timer, &mut out),
        }
        out
    }

    fn on_peer(&mut self, from: ValidatorIndex, message: PeerMessage, out: &mut Vec<Output>) {
        // The transport names the sender; consensus and certificates index the set with it.
        if !self.validators.contains(from) {
            self.counters.peer_messages_from_unknown += 1;
            return;
        }
        match message {
            PeerMessage::Consensus { vote, block } => {
                let height = vote.message.height();
                if height < self.height() || vote.signer == self.me {
                    return;
                }
                if height > self.height() + HEIGHTS_AHEAD_MAX {
                    // Consensus would not buffer it: catch up first (no signature check needed).
                    self.request_sync(from, out);
                    return;
                }
                if !self.accept_signed(&vote) {
                    return;
                }
                let SignedMessage { message, signer, .. } = vote;
                // Consensus and the proposer check use the signer: a relayed message keeps its origin.
                let from_transport = from;
                let from = signer;
                if height > self.height() {
                    let from = from_transport;
                    self.request_sync(from, out);
                    if matches!(message, Message::Proposal { .. }) {
                        let queued =
                            block.filter(|_| height <= self.height() + FUTURE_HEIGHTS_MAX).is_some_and(|block| {
                                let queue = self.future.entry(height).or_default();
                                let room = queue.len() < FUTURE_PROPOSALS_MAX;
                                if room {
                                    queue.push((signer, message, block));
                                }
                                room
                            });
                        if !queued {
                            self.counters.future_proposals_dropped += 1;
                        }
                        return;
                    }
                }
                self.deliver(from, message, block, out);
                self.incoming = None;
            }
            PeerMessage::Txs(packets) => {
                let excess = packets.len().saturating_sub(FORWARDED_TXS_MAX);
                self.counters.forwarded_txs_dropped += excess as u64;
                for packet in packets.into_iter().take(FORWARDED_TXS_MAX) {
                    match self.admit_forwarded(packet) {
                        Ok(()) | Err(TxRefusal::Mempool(MempoolError::Known)) => {}
                        Err(_) => self.counters.forwarded_txs_refused += 1,
                    }
                }
            }
            PeerMessage::SyncRequest { from_height } => {
                let first = self.store.front().map_or(1, |b| b.block.header.number);
                if from_height < first && self.chain.head().number >= first {
                    // Older than the store keeps: this node cannot help (see `store_blocks_max`).
                    self.counters.sync_requests_unserved += 1;
                    return;
                }
                let start = usize::try_from(from_height.saturating_sub(first)).unwrap_or(usize::MAX);
                // Up to `sync_batch_max` blocks, and within the frame limit (the first always fits).
                let mut bytes = 0;
                let blocks: Vec<CommittedBlock> = self
                    .store
                    .iter()
                    .skip(start)
                    .take(self.params.sync_batch_max)
                    .take_while(|committed| {
                        bytes += block_wire_bytes(&committed.block) + 128 * committed.certificate.precommits.len();
                        bytes <= SYNC_RESPONSE_BYTES_MAX / 2
                    })
                    .cloned()
                    .collect();
                if !blocks.is_empty() {
                    out.push(Output::ToPeer { to: from, message: PeerMessage::SyncResponse { blocks } });
                }
            }
            PeerMessage::SyncResponse { blocks } => self.on_sync(from, blocks, out),
        }
    }

    /// Checks a received signed message: a copy of one already verified passes at once, anything
    /// else must verify (a bad signature is counted and dropped). Keeps the first message of each
    /// slot; a different second one is kept aside as `incoming`, for the evidence consensus reports.
    fn accept_signed(&mut self, vote: &SignedMessage) -> bool {
        self.incoming = None;
        let key = slot(&vote.message, vote.signer);
        if self.signed.get(&key) == Some(vote) {
            return true;
        }
        if vote.verify(&self.validators, self.chain.spec().chain_id).is_err() {
            self.counters.bad_signatures += 1;
            return false;
        }
        if self.signed.contains_key(&key) {
            self.incoming = Some(vote.clone());
        } else {
            self.keep_signed(vote.clone());
        }
        true
    }

    /// Keeps a verified (or own) signed message, dropping the lowest slot when full.
    fn keep_signed(&mut self, vote: SignedMessage) {
        if self.signed.len() >= SIGNED_MESSAGES_MAX {
            self.signed.pop_first();
        }
        self.signed.insert(slot(&vote.message, vote.signer), vote);
    }

    /// Passes a consensus message of the current (or a near-future) height to consensus, with the
    /// proposal's validity.
    fn deliver(&mut self, from: ValidatorIndex, message: Message, block: Option<Box<Block>>, out: &mut Vec<Output>) {
        let proposal_valid = match (&message, block) {
            (Message::Proposal { value, height, round, .. }, Some(block)) => {
                // Only the round's proposer sends its proposal (re-sends included); executing
                // anyone else's block would let a peer spend this node's time for nothing.
                let from_proposer = from == self.validators.proposer(*height, *round);
                let room = self.verdicts.contains_key(value) || self.verdicts.len() < VERDICTS_PER_HEIGHT_MAX;
                if *height != self.height() {
                    None
                } else if !from_proposer || !room {
                    self.counters.proposals_dropped += 1;
                    None
                } else {
                    Some(self.validate(*value, *block))
                }
            }
            (Message::Proposal { value, .. }, None) => self.verdicts.get(value).copied(),
            _ => None,
        };
        if matches!(message, Message::Proposal { .. }) && proposal_valid.is_none() {
            return;
        }
        let outputs = self.consensus.handle(ConsensusInput::Message { from, message, proposal_valid });
        self.run_consensus(outputs, out);
    }

    /// Executes a proposed block (once per hash per height) and remembers the verdict.
    fn validate(&mut self, value: B256, block: Block) -> bool {
        if let Some(verdict) = self.verdicts.get(&value) {
            return *verdict;
        }
        let verdict = block.header.hash() == value && block.header.number == self.height() && {
            self.revert_executed();
            match self.chain.execute_block(&block, Some(&self.senders)) {
                Ok(outcome) => {
                    self.executed = Some(outcome);
                    true
                }
                Err(_) => false,
            }
        };
        self.verdicts.insert(value, verdict);
        if verdict {
            self.proposals.insert(value, block);
        }
        verdict
    }

    fn revert_executed(&mut self) {
        if self.executed.take().is_some() {
            self.chain.revert_block();
        }
    }

    /// After a crash: rebuilds consensus from the write-ahead log (its height, round, lock, valid
    /// value and the votes it sent) and resumes where it stopped: re-sends its messages of the
    /// height and schedules the current step's timeout. A log the machine could not have written
    /// is counted and ignored (the node then waits for the next height, as after block sync).
    fn recover(&mut self, out: &mut Vec<Output>) {
        let recovered =
            Consensus::recover(self.validators.clone(), self.me, self.params.timeouts.clone(), self.wal.entries());
        let (consensus, outputs) = match recovered {
            Ok(recovered) => recovered,
            Err(_) => {
                self.counters.wal_unusable += 1;
                return;
            }
        };
        self.consensus = consensus;
        if self.consensus.height() == self.height() {
            // The blocks the log names (own proposal, locked and valid values) are valid: they
            // were validated before they were logged.
            for (hash, block) in self.wal.blocks() {
                self.proposals.insert(*hash, block.clone());
                self.verdicts.insert(*hash, true);
            }
            // The polkas' signed prevotes, relayed again by the rebroadcast (host contract point 5).
            for vote in self.wal.polkas().to_vec() {
                self.keep_signed(vote);
            }
            self.run_consensus(outputs, out);
        }
    }

    fn run_consensus(&mut self, outputs: Vec<ConsensusOutput>, out: &mut Vec<Output>) {
        for output in outputs {
            match output {
                ConsensusOutput::Broadcast(message) => {
                    let block = match &message {
                        Message::Proposal { value, .. } => self.proposals.get(value).cloned().map(Box::new),
                        _ => None,
                    };
                    let vote = SignedMessage::sign(message, self.me, &self.key, self.chain.spec().chain_id);
                    self.keep_signed(vote.clone());
                    if vote.message.height() == self.height() && self.sent_at_height.len() < REBROADCAST_MESSAGES_MAX {
                        self.sent_at_height.push(vote.clone());
                    }
                    out.push(Output::Broadcast(PeerMessage::Consensus { vote, block }));
                }
                ConsensusOutput::BuildProposal { height, round } => {
                    let ready_at = self.last_commit_ms + self.params.block_time_ms;
                    let after_ms = ready_at.saturating_sub(self.now_ms);
                    out.push(Output::SetTimer { timer: Timer::Propose { height, round }, after_ms });
                }
                ConsensusOutput::ScheduleTimeout { timeout, after_ms } => {
                    out.push(Output::SetTimer { timer: Timer::Consensus(timeout), after_ms });
                }
                ConsensusOutput::Persist(entry) => {
                    if let WalEntry::Lock { height, round, value, polka }
                    | WalEntry::Valid { height, round, value, polka } = &entry
                    {
                        let wanted = Message::Prevote { height: *height, round: *round, value: Some(*value) };
                        let votes: Vec<SignedMessage> = polka
                            .iter()
                            .filter_map(|v| self.signed.get(&(*height, *round, MessageKind::Prevote, *v)))
                            .filter(|vote| vote.message == wanted)
                            .cloned()
                            .collect();
                        self.wal.keep_polka(votes);
                    }
                    let proposals = &self.proposals;
                    self.wal.append(entry, |hash| proposals.get(hash).cloned());
                }
                ConsensusOutput::Evidence(evidence) => {
                    // Consensus counted `first` and was just handed `second`: both signed, here.
                    let first = self.signed.get(&slot(&evidence.first, evidence.validator)).cloned();
                    let second = self.incoming.clone();
                    match (first, second) {
                        (Some(first), Some(second))
                            if first.message == evidence.first && second.message == evidence.second =>
                        {
                            out.push(Output::Evidence(Evidence { first, second }));
                        }
                        _ => self.counters.evidence_unsigned += 1,
                    }
                }
                ConsensusOutput::Decide { height, round, value, certificate } => {
                    self.on_decide(height, round, value, certificate, out);
                }
            }
        }
    }

    fn on_decide(
        &mut self,
        height: Height,
        round: Round,
        value: B256,
        certificate: Vec<ValidatorIndex>,
        out: &mut Vec<Output>,
    ) {
        debug_assert_eq!(height, self.height());
        let executed_matches = self.executed.as_ref().is_some_and(|o| o.hash == value);
        if !executed_matches {
            self.revert_executed();
            let Some(block) = self.proposals.get(&value).cloned() else {
                // Decided by the others on a block this node never received: fetch it.
                self.undelivered = Some((height, round, value, certificate.clone()));
                if let Some(&peer) = certificate.iter().find(|v| **v != self.me) {
                    self.request_sync(peer, out);
                }
                return;
            };
            match self.chain.execute_block(&block, Some(&self.senders)) {
                Ok(outcome) => self.executed = Some(outcome),
                Err(_) => {
                    // This node executed the block when it validated it, on the same head, and
                    // execution is deterministic: not expected. Fetch the certified block instead
                    // of stopping (sync refuses it too if it really is invalid here).
                    self.counters.decided_blocks_failed += 1;
                    self.undelivered = Some((height, round, value, certificate.clone()));
                    if let Some(&peer) = certificate.iter().find(|v| **v != self.me) {
                        self.request_sync(peer, out);
                    }
                    return;
                }
            }
        }
        let Some(mut outcome) = self.executed.take() else {
            unreachable!("the decided block is executed: it matched, or was executed just above")
        };
        self.chain.commit_block(&mut outcome);
        let certificate = self.certificate(height, round, value, &certificate);
        self.after_commit(outcome, certificate, false, out);
        self.start_next_height(out);
    }

    /// The signed precommits of `validators` for `value` at `(height, round)`, from the messages
    /// kept (counted when they fall short of a quorum).
    fn certificate(&mut self, height: Height, round: Round, value: B256, validators: &[ValidatorIndex]) -> Certificate {
        let wanted = Message::Precommit { height, round, value: Some(value) };
        let mut precommits: Vec<_> = validators
            .iter()
            .filter_map(|v| self.signed.get(&(height, round, MessageKind::Precommit, *v)))
            .filter(|vote| vote.message == wanted)
            .map(|vote| (vote.signer, vote.signature))
            .collect();
        precommits.sort_unstable_by_key(|(validator, _)| *validator);
        precommits.dedup_by_key(|(validator, _)| *validator);
        let stake: u64 = precommits.iter().map(|(v, _)| self.validators.stake(*v)).sum();
        if !self.validators.is_quorum(stake) {
            self.counters.certificates_incomplete += 1;
        }
        Certificate { round, precommits }
    }

    fn start_next_height(&mut self, out: &mut Vec<Output>) {
        let height = self.height();
        self.sent_at_height.clear();
        out.push(Output::SetTimer { timer: Timer::Rebroadcast { height }, after_ms: self.rebroadcast_ms() });
        self.proposals.clear();
        self.verdicts.clear();
        self.undelivered = None;
        self.signed = self.signed.split_off(&(height, 0, MessageKind::Proposal, 0));
        let outputs = self.consensus.handle(ConsensusInput::StartHeight(height));
        self.run_consensus(outputs, out);
        // Replay proposals that arrived early.
        let stale: Vec<Height> = self.future.range(..=height).map(|(h, _)| *h).collect();
        for h in stale {
            let queued = self.future.remove(&h).unwrap_or_default();
            if h == height {
                for (from, message, block) in queued {
                    self.deliver(from, message, Some(block), out);
                }
            }
        }
    }

    fn after_commit(&mut self, outcome: BlockOutcome, certificate: Certificate, synced: bool, out: &mut Vec<Output>) {
        let number = outcome.block.header.number;
        self.last_commit_ms = self.now_ms;
        let round = certificate.round;
        let validators = certificate.validators();
        let committed = CommittedBlock { block: outcome.block.clone(), hash: outcome.hash, certificate };
        self.store.push_back(committed.clone());
        for record in &outcome.txs {
            self.receipts.insert(record.hash, (number, record.success));
        }
        while self.store.len() > self.params.store_blocks_max.max(1) {
            if let Some(old) = self.store.pop_front() {
                for envelope in &old.block.transactions {
                    self.receipts.remove(envelope.tx_hash());
                }
            }
        }
        // Mempool: drop what was included, and what can no longer be (stale nonces).
        let mut senders = BTreeSet::new();
        for record in &outcome.txs {
            self.mempool.remove(&record.hash);
            senders.insert(record.sender);
            if let Some(client) = self.origins.remove(&record.hash) {
                out.push(Output::ToClient {
                    to: client,
                    message: ClientMessage::TxCommitted { hash: record.hash, block: number, success: record.success },
                });
            }
        }
        for sender in senders {
            let nonce = self.chain.state().nonce(&sender);
            for stale in self.mempool.prune_sender(&sender, nonce) {
                let reason = TxRejection::NonceTooLow { expected: nonce, got: stale.envelope.nonce() };
                self.tell_origin(stale.hash, reason.into(), out);
            }
        }
        for (gapped, missing) in self.mempool.evict_gapped(self.chain.state(), number) {
            self.counters.txs_evicted += 1;
            let reason = MempoolError::Evicted(Eviction::NonceGap { missing, blocks: NONCE_GAP_BLOCKS_MAX });
            self.tell_origin(gapped.hash, reason.into(), out);
        }
        self.proven.after_commit(&outcome);
        if self.params.serve_witnesses {
            let span_max = self.chain.market().params().system_job_txs_max as usize;
            self.witnesses.after_commit(&outcome, span_max, self.chain.spec().chain_id);
        }
        // Tell subscribed plugins about their new jobs.
        let mut by_plugin: BTreeMap<Address, Vec<Assignment>> = BTreeMap::new();
        for event in &outcome.market_events {
            if let EventKind::JobAssigned { job, plugin, .. } = &event.kind
                && self.subscriptions.contains(plugin)
                && let Some(assignment) = self.assignment(*job)
            {
                by_plugin.entry(*plugin).or_default().push(assignment);
            }
        }
        let active = self.chain.market().active_count();
        for (plugin, jobs) in by_plugin {
            let Some(&to) = self.subscriptions.get(&plugin) else { continue };
            out.push(Output::ToClient {
                to,
                message: ClientMessage::Assignments {
                    plugin,
                    jobs,
                    complete: false,
                    head: number,
                    active_plugins: active,
                },
            });
        }
        let market = self.snapshot();
        let supply = self.chain.check_supply();
        out.push(Output::Committed(Box::new(CommitReport {
            outcome,
            round,
            certificate: validators,
            committed,
            synced,
            market,
            supply,
        })));
    }

    fn snapshot(&self) -> MarketSnapshot {
        let market = self.chain.market();
        let accounts = market.accounts();
        let bounty = &market.params().bounty;
        let fresh = bounty
            .age
            .factor(0, market.adaptive_level())
            .mul(bounty.supply.factor(market.active_count()))
            .apply(bounty.base);
        MarketSnapshot {
            active_plugins: market.active_count(),
            open_jobs: market.open_jobs() as u64,
            assigned_jobs: market.assigned_jobs() as u64,
            unproven_blocks: market.unproven_blocks().count() as u64,
            pool_wei: accounts.pool,
            issued_wei: accounts.issued,
            fresh_bounty_wei: fresh.wei(),
            mempool: self.mempool.len() as u64,
            native_total_wei: self.chain.state().ledger().leaves().iter().map(|leaf| leaf.balance).sum(),
            market_balances_wei: market.balances_total().wei(),
        }
    }

    fn assignment(&self, job: u64) -> Option<Assignment> {
        let job = self.chain.market().job(job)?;
        let JobStatus::Assigned { deadline_block, .. } = job.status else {
            return None;
        };
        Some(Assignment {
            job: job.id,
            kind: job.kind,
            pre_root: job.pre_root,
            post_root: job.post_root,
            commitment: job.commitment,
            created_block: job.created_block,
            deadline_block,
            inputs: self.witnesses.inputs.get(&job.id).cloned(),
            real_required: job.real_required,
            gas_used: job.gas_used,
        })
    }

    fn request_sync(&mut self, peer: ValidatorIndex, out: &mut Vec<Output>) {
        if self.sync_pending || peer == self.me {
            return;
        }
        self.sync_pending = true;
        out.push(Output::ToPeer { to: peer, message: PeerMessage::SyncRequest { from_height: self.height() } });
        out.push(Output::SetTimer { timer: Timer::SyncRetry, after_ms: self.params.sync_retry_ms });
    }

    /// Imports certified blocks from a sync response. A response that breaks a rule (too many
    /// blocks, a bad certificate, a hash that is not the block's, a block that does not execute)
    /// is refused from that block on and counted; the blocks before it stay imported, and the
    /// next message from a peer ahead asks again (a bad peer cannot stall sync from the others).
    fn on_sync(&mut self, from: ValidatorIndex, blocks: Vec<CommittedBlock>, out: &mut Vec<Output>) {
        self.sync_pending = false;
        if blocks.len() > self.params.sync_batch_max {
            self.counters.sync_oversize += 1;
            return;
        }
        let before = self.height();
        let full_batch = blocks.len() == self.params.sync_batch_max;
        let mut refused = false;
        for committed in blocks {
            if committed.block.header.number != self.height() {
                // Already imported (an earlier response) or not next: nothing to do with it.
                continue;
            }
            if let Err(refusal) = self.import_committed(committed, out) {
                match refusal {
                    ImportRefusal::NotNext => unreachable!("checked above"),
                    ImportRefusal::HashMismatch => self.counters.sync_hash_mismatch += 1,
                    ImportRefusal::BadCertificate => self.counters.sync_bad_certificate += 1,
                    ImportRefusal::InvalidBlock => self.counters.sync_invalid_block += 1,
                }
                refused = true;
                break;
            }
        }
        if self.height() > before {
            // Fresh consensus state at the new height: rounds of the skipped heights are over.
            self.consensus = Consensus::new(self.validators.clone(), Some(self.me), self.params.timeouts.clone());
            self.start_next_height(out);
            if full_batch && !refused {
                self.request_sync(from, out);
            }
        }
    }

    /// Imports the next committed block after checking it: its hash, its certificate (more than
    /// 2/3 of the stake, every signature), and that it executes to the same header.
    fn import_committed(&mut self, committed: CommittedBlock, out: &mut Vec<Output>) -> Result<(), ImportRefusal> {
        let number = committed.block.header.number;
        if number != self.height() {
            return Err(ImportRefusal::NotNext);
        }
        if committed.block.header.hash() != committed.hash {
            return Err(ImportRefusal::HashMismatch);
        }
        if committed.certificate.verify(number, committed.hash, &self.validators, self.chain.spec().chain_id).is_err() {
            return Err(ImportRefusal::BadCertificate);
        }
        self.revert_executed();
        let Ok(mut outcome) = self.chain.execute_block(&committed.block, Some(&self.senders)) else {
            return Err(ImportRefusal::InvalidBlock);
        };
        if outcome.hash != committed.hash {
            // Import recomputes and compares every header field, so the hash agrees with the
            // header checked above; kept as a check, not an assumption.
            self.chain.revert_block();
            return Err(ImportRefusal::HashMismatch);
        }
        self.chain.commit_block(&mut outcome);
        self.after_commit(outcome, committed.certificate, true, out);
        Ok(())
    }

    /// Restores a node from its disk before it starts: replays `committed`, the blocks it stored
    /// (each checked as block sync checks it), and takes back its write-ahead log. The host then
    /// starts it as restarted ([`crate::Host::start`]), so consensus recovers from the log. Returns
    /// the commit reports of the replayed blocks (for the host's indexes).
    pub fn restore(
        &mut self,
        committed: impl IntoIterator<Item = CommittedBlock>,
        wal: WriteAheadLog,
    ) -> Result<Vec<CommitReport>, RestoreError> {
        let mut reports = Vec::new();
        for block in committed {
            let number = block.block.header.number;
            let mut out = Vec::new();
            self.import_committed(block, &mut out).map_err(|refusal| RestoreError { number, refusal })?;
            reports.extend(out.into_iter().filter_map(|output| match output {
                Output::Committed(report) => Some(*report),
                _ => None,
            }));
        }
        self.wal = wal;
        Ok(reports)
    }

    fn on_client(&mut self, from: ClientId, request: ClientRequest, out: &mut Vec<Output>) {
        match request {
            ClientRequest::SubmitTx(packet) => {
                let hash = packet.hash();
                #[cfg(feature = "test-bugs")]
                if self.has_test_bug(zkcrowd_primitives::TestBug::DropAcceptedTxs)
                    && packet.envelope.to() != Some(MARKET_ADDRESS)
                    && hash[31] % 4 == 0
                {
                    out.push(Output::ToClient { to: from, message: ClientMessage::TxAccepted { hash } });
                    return;
                }
                if let Some(&(block, success)) = self.receipts.get(&hash) {
                    // A re-sent tx that is already committed (its `TxCommitted` may have been
                    // lost): say so again rather than refuse its used nonce.
                    out.push(Output::ToClient {
                        to: from,
                        message: ClientMessage::TxCommitted { hash, block, success },
                    });
                    return;
                }
                let result = self.admit(packet.clone());
                let message = match result {
                    Ok(()) => {
                        self.origins.insert(hash, from);
                        let envelope = &packet.envelope;
                        if envelope.to() == Some(MARKET_ADDRESS) && is_proof_submission(envelope.input()) {
                            for watcher in self.watchers.keys() {
                                out.push(Output::ToClient {
                                    to: *watcher,
                                    message: ClientMessage::ProofSeen { tx: packet.clone() },
                                });
                            }
                        }
                        let bytes = packet_wire_bytes(&packet);
                        if self.gossip_bytes + bytes > GOSSIP_BYTES_MAX {
                            self.flush_gossip(out);
                        }
                        self.gossip.push(packet);
                        self.gossip_bytes += bytes;
                        if self.gossip.len() >= GOSSIP_BATCH_MAX {
                            self.flush_gossip(out);
                        }
                        ClientMessage::TxAccepted { hash }
                    }
                    Err(reason) => ClientMessage::TxRejected { hash, reason },
                };
                out.push(Output::ToClient { to: from, message });
            }
            ClientRequest::Subscribe { plugin, watch_proofs } => {
                if self.subscriptions.insert(plugin, from) {
                    self.counters.subscriptions_evicted += 1;
                }
                if watch_proofs && self.watchers.insert(from, ()) {
                    self.counters.watchers_evicted += 1;
                }
                out.push(Output::ToClient { to: from, message: self.assignments_of(plugin) });
            }
            ClientRequest::Unsubscribe { plugin } => {
                // Only the subscribing connection ends its subscription.
                if self.subscriptions.get(&plugin) == Some(&from) {
                    self.subscriptions.remove(&plugin);
                }
                self.watchers.remove(&from);
            }
            ClientRequest::GetTransaction { hash } => {
                let status = match self.receipts.get(&hash) {
                    Some(&(block, success)) => TxStatus::Committed { block, success },
                    None if self.mempool.contains(&hash) => TxStatus::Pending,
                    None => TxStatus::Unknown,
                };
                let head = self.chain.head().number;
                out.push(Output::ToClient { to: from, message: ClientMessage::TxStatus { hash, status, head } });
            }
            ClientRequest::GetAccount { address } => {
                let state = self.chain.state();
                out.push(Output::ToClient {
                    to: from,
                    message: ClientMessage::Account {
                        address,
                        nonce: self.next_nonce(&address),
                        balance: state.balance(&address),
                        market_balance: self.chain.market().plugin(&address).map(|p| p.balance),
                        head: self.chain.head().number,
                        base_fee_per_gas: self.chain.next_base_fee(),
                    },
                });
            }
            ClientRequest::GetAssignments { plugin } => {
                out.push(Output::ToClient { to: from, message: self.assignments_of(plugin) });
            }
            ClientRequest::Keepalive { plugin } => {
                let subscribed = self.subscriptions.get(&plugin) == Some(&from);
                let head = self.chain.head().number;
                // The plugin's counter, not a scan of the assigned jobs: keepalives are frequent.
                let jobs = self.chain.market().plugin(&plugin).map_or(0, |p| p.held);
                let base_fee_per_gas = self.chain.next_base_fee();
                let message = ClientMessage::Keepalive { plugin, subscribed, jobs, head, base_fee_per_gas };
                out.push(Output::ToClient { to: from, message });
            }
            ClientRequest::GetQuote => {
                out.push(Output::ToClient { to: from, message: ClientMessage::Quote(self.chain.market().quote()) });
            }
        }
    }

    /// Tells the client that sent `hash` here (if any) that it was refused or dropped.
    fn tell_origin(&mut self, hash: B256, reason: TxRefusal, out: &mut Vec<Output>) {
        if let Some(client) = self.origins.remove(&hash) {
            out.push(Output::ToClient { to: client, message: ClientMessage::TxRejected { hash, reason } });
        }
    }

    /// The next nonce of `address`: its state nonce, past the consecutive run pending here.
    fn next_nonce(&self, address: &Address) -> u64 {
        let mut next = self.chain.state().nonce(address);
        // At most `NONCE_AHEAD_MAX` iterations: the mempool queues no further ahead.
        while self.mempool.has_nonce(address, next) {
            let Some(after) = next.checked_add(1) else { break };
            next = after;
        }
        next
    }

    fn assignments_of(&self, plugin: Address) -> ClientMessage {
        let market = self.chain.market();
        let jobs = market.assigned_to(&plugin).into_iter().filter_map(|job| self.assignment(job.id)).collect();
        ClientMessage::Assignments {
            plugin,
            jobs,
            complete: true,
            head: self.chain.head().number,
            active_plugins: market.active_count(),
        }
    }

    /// Mempool admission of a client's tx: decodes, checks what can be checked against the head
    /// state, and queues.
    fn admit(&mut self, packet: TxPacket) -> Result<(), TxRefusal> {
        let TxPacket { envelope, sidecar } = packet;
        check_sidecar(envelope.to(), sidecar.as_ref())?;
        let raw_len = envelope.eip2718_encoded_length();
        if raw_len > self.chain.spec().max_tx_size_bytes {
            let max_bytes = self.chain.spec().max_tx_size_bytes;
            return Err(TxRejection::Oversize { size_bytes: raw_len, max_bytes }.into());
        }
        let tx =
            SignedTx::from_envelope_cached(envelope, self.chain.spec().chain_id, &self.senders)?.with_sidecar(sidecar);
        let spec = self.chain.spec();
        if tx.envelope.gas_limit() > spec.gas_limit {
            let (gas_limit, block_gas_limit) = (tx.envelope.gas_limit(), spec.gas_limit);
            return Err(TxRejection::GasAboveBlockLimit { gas_limit, block_gas_limit }.into());
        }
        let base_fee = self.chain.next_base_fee();
        if tx.envelope.max_fee_per_gas() < u128::from(base_fee) {
            let max_fee_per_gas = tx.envelope.max_fee_per_gas();
            return Err(TxRejection::FeeCapBelowBaseFee { max_fee_per_gas, base_fee_per_gas: base_fee }.into());
        }
        let available = self.chain.state().balance(&tx.sender);
        if available < tx.max_cost() {
            return Err(TxRejection::InsufficientBalance { required: tx.max_cost(), available }.into());
        }
        let nonce = self.chain.state().nonce(&tx.sender);
        Ok(self.mempool.insert(tx, nonce, self.chain.head().number)?)
    }

    /// Mempool admission of a tx a peer forwarded (which that peer admitted against its own head):
    /// the sidecar, the signature and the mempool's own rules.
    fn admit_forwarded(&mut self, packet: TxPacket) -> Result<(), TxRefusal> {
        let TxPacket { envelope, sidecar } = packet;
        check_sidecar(envelope.to(), sidecar.as_ref())?;
        let tx = SignedTx::from_envelope_cached(envelope, self.chain.spec().chain_id, &self.senders)?;
        let nonce = self.chain.state().nonce(&tx.sender);
        Ok(self.mempool.insert(tx.with_sidecar(sidecar), nonce, self.chain.head().number)?)
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::Consensus(timeout) => {
                let outputs = self.consensus.handle(ConsensusInput::Timeout(timeout));
                self.run_consensus(outputs, out);
            }
            Timer::Propose { height, round } => {
                if height != self.height() || self.consensus.round() != round {
                    return;
                }
                self.revert_executed();
                let candidates = self.mempool.candidates(
                    self.chain.state(),
                    self.params.block_txs_max,
                    self.params.market_lane_txs_max,
                );
                // A head stamped u64::MAX (possible only in a certified block) cannot be extended.
                let Some(after_head) = self.chain.head().timestamp.checked_add(1) else { return };
                let timestamp = (self.now_ms / 1_000).max(after_head);
                let proposer = self.validators.address(self.me);
                let outcome = self.chain.build_block_open(&candidates, timestamp, proposer);
                for rejected in &outcome.rejected {
                    let Some(tx) = self.mempool.remove(&rejected.hash) else { continue };
                    self.tell_origin(rejected.hash, TxRefusal::Invalid(rejected.reason.clone()), out);
                    // The sender's later txs wait behind a nonce that will not come: evict them
                    // now, with the reason, so their senders re-sync and send again.
                    let refused = tx.envelope.nonce();
                    for follower in self.mempool.evict_followers(&tx.sender, refused) {
                        self.counters.txs_evicted += 1;
                        let reason = MempoolError::Evicted(Eviction::FollowsRefused { refused });
                        self.tell_origin(follower.hash, reason.into(), out);
                    }
                }
                let value = outcome.hash;
                self.proposals.insert(value, outcome.block.clone());
                self.verdicts.insert(value, true);
                self.executed = Some(outcome);
                #[cfg(feature = "test-bugs")]
                if self.has_test_bug(zkcrowd_primitives::TestBug::CommitOwnProposal) && !self.test_bugs.1 {
                    self.test_bugs.1 = true;
                    self.on_decide(height, round, value, vec![self.me], out);
                    return;
                }
                let outputs = self.consensus.handle(ConsensusInput::ProposalBuilt { height, round, value });
                self.run_consensus(outputs, out);
            }
            Timer::Gossip => {
                self.flush_gossip(out);
                out.push(Output::SetTimer { timer: Timer::Gossip, after_ms: self.params.gossip_interval_ms });
            }
            Timer::Rebroadcast { height } => {
                if height != self.height() {
                    return;
                }
                // Still undecided: send this height's proposals and votes again (duplicates are
                // counted once), the most recent last.
                // Relay the others' messages of the current round and of this node's polka round
                // (the prevotes a re-proposal of its valid value needs others to have seen).
                let mut rounds = vec![self.consensus.round()];
                rounds.extend(self.consensus.valid().map(|(round, _)| round).filter(|r| !rounds.contains(r)));
                let relayed: Vec<SignedMessage> = rounds
                    .into_iter()
                    .flat_map(|round| {
                        self.signed.range(
                            (height, round, MessageKind::Proposal, 0)
                                ..=(height, round, MessageKind::Precommit, u16::MAX),
                        )
                    })
                    .map(|(_, vote)| vote)
                    .filter(|vote| vote.signer != self.me)
                    .take(RELAYED_MESSAGES_MAX)
                    .cloned()
                    .collect();
                for vote in relayed.into_iter().chain(self.sent_at_height.clone()) {
                    let block = match &vote.message {
                        Message::Proposal { value, .. } => self.proposals.get(value).cloned().map(Box::new),
                        _ => None,
                    };
                    out.push(Output::Broadcast(PeerMessage::Consensus { vote, block }));
                }
                out.push(Output::SetTimer { timer: Timer::Rebroadcast { height }, after_ms: self.rebroadcast_ms() });
            }
            Timer::SyncRetry => {
                self.sync_pending = false;
                if let Some((_, _, _, certificate)) = self.undelivered.clone()
                    && let Some(&peer) = certificate.iter().find(|v| **v != self.me)
                {
                    self.request_sync(peer, out);
                }
            }
        }
    }
}

impl Node {
    /// Forwards the admitted transactions held for gossip, if any.
    fn flush_gossip(&mut self, out: &mut Vec<Output>) {
        self.gossip_bytes = 0;
        if !self.gossip.is_empty() {
            out.push(Output::Broadcast(PeerMessage::Txs(std::mem::take(&mut self.gossip))));
        }
    }
}

/// Whether calldata is a `submitProof` call.
pub fn is_proof_submission(input: &[u8]) -> bool {
    use alloy::sol_types::SolCall;
    input.len() >= 4 && input[..4] == IZkcrowdMarket::submitProofCall::SELECTOR
}
