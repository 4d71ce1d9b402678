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
//! 5. After a crash a validator keeps what it had committed (its chain and block store: its disk)
//!    and loses the rest (mempool, consensus round state, subscriptions): [`Node::restart`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use alloy::consensus::Transaction;
use alloy::primitives::{Address, B256};
use zkcrowd_chain::{Block, BlockOutcome, Chain, SenderCache, SignedTx, TxPacket, TxRejection, check_sidecar};
use zkcrowd_consensus::{
    Consensus, Equivocation, Height, Input as ConsensusInput, Message, Output as ConsensusOutput, Round, Timeout,
    TimeoutParams, ValidatorIndex, ValidatorSet,
};
use zkcrowd_market::{EventKind, IZkcrowdMarket, JobStatus};
use zkcrowd_primitives::{BlockNumber, MARKET_ADDRESS};

use crate::mempool::Mempool;
use crate::proven::{ProvenBlocks, ProvenRecord};
use zkcrowd_protocol::{Assignment, ClientId, ClientMessage, ClientRequest};

use crate::wire::{CommittedBlock, PeerMessage};
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
}

impl NodeParams {
    /// Parameters for a chain with `block_time_ms` between blocks.
    pub fn for_block_time(block_time_ms: u64, mempool_max: usize) -> Self {
        Self {
            block_time_ms,
            mempool_max,
            block_txs_max: 2_000,
            gossip_interval_ms: 100,
            sync_batch_max: 64,
            sync_retry_ms: 2_000,
            serve_witnesses: false,
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
    /// A validator equivocated: two different messages of one type in one round (for the host's
    /// evidence record; slashing would use it).
    Evidence(Equivocation),
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
    /// Imported by block sync rather than decided by this node's consensus.
    pub synced: bool,
    /// The market right after the commit.
    pub market: MarketSnapshot,
    /// The supply identity right after the commit ([`Chain::check_supply`]).
    pub supply: Result<(), String>,
}

/// One validator.
pub struct Node {
    me: ValidatorIndex,
    validators: ValidatorSet,
    params: NodeParams,
    chain: Chain,
    store: Vec<CommittedBlock>,
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
    sync_pending: bool,
    /// A decision whose block this node does not have.
    undelivered: Option<(Height, Round, B256, Vec<ValidatorIndex>)>,
    subscriptions: BTreeMap<Address, ClientId>,
    /// Inputs of real proofs for live jobs ([`NodeParams::serve_witnesses`]).
    witnesses: Witnesses,
    watchers: BTreeSet<ClientId>,
    origins: HashMap<B256, ClientId>,
    last_commit_ms: u64,
    now_ms: u64,
    /// Votes sent at the current height: (round, is_precommit) → value. Kept across a crash (with
    /// the chain, on "disk"), so a restarted node never sends a second, different vote in a round
    /// it voted in before (that would be equivocation).
    votes_sent: BTreeMap<(Height, Round, bool), Option<B256>>,
    /// Votes withheld by that rule.
    votes_withheld: u64,
    /// Fully proven blocks of this node's chain, for its L1 submission agent (kept across a crash:
    /// derived from the committed chain).
    proven: ProvenBlocks,
    /// This node's consensus messages at the current height, for re-sending.
    sent_at_height: Vec<Message>,
    /// Deliberate bugs switched on by a test host ([`Node::set_test_bug`]), and whether the
    /// one-shot `CommitOwnProposal` has fired.
    #[cfg(feature = "test-bugs")]
    test_bugs: (Vec<zkcrowd_primitives::TestBug>, bool),
}

/// Own consensus messages kept for re-sending at one height.
const REBROADCAST_MESSAGES_MAX: usize = 64;

/// Heights beyond the next one for which proposals are buffered.
const FUTURE_HEIGHTS_MAX: u64 = 2;
/// Proposals buffered per future height.
const FUTURE_PROPOSALS_MAX: usize = 8;

impl Node {
    /// A validator `me` of `validators` over `chain` (at genesis, or as stored).
    pub fn new(
        me: ValidatorIndex,
        validators: ValidatorSet,
        params: NodeParams,
        chain: Chain,
        senders: Arc<SenderCache>,
    ) -> Self {
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
            store: Vec::new(),
            consensus,
            mempool,
            senders,
            proposals: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            executed: None,
            future: BTreeMap::new(),
            gossip: Vec::new(),
            sync_pending: false,
            undelivered: None,
            subscriptions: BTreeMap::new(),
            witnesses: Witnesses::default(),
            watchers: BTreeSet::new(),
            origins: HashMap::new(),
            last_commit_ms: 0,
            now_ms: 0,
            votes_sent: BTreeMap::new(),
            votes_withheld: 0,
            sent_at_height: Vec::new(),
            #[cfg(feature = "test-bugs")]
            test_bugs: (Vec::new(), false),
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

    /// A one-line description of the node's consensus state (for run summaries and debugging).
    pub fn status(&self) -> String {
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
        )
    }

    /// Votes withheld because they would have contradicted a vote sent before a crash.
    pub fn votes_withheld(&self) -> u64 {
        self.votes_withheld
    }

    /// After a crash: keep the committed chain and block store, lose everything else.
    pub fn restart(&mut self) {
        if self.chain.has_open_block() {
            self.chain.revert_block();
        }
        self.executed = None;
        self.consensus = Consensus::new(self.validators.clone(), Some(self.me), self.params.timeouts.clone());
        self.mempool = Mempool::new(self.params.mempool_max);
        self.proposals.clear();
        self.verdicts.clear();
        self.future.clear();
        self.gossip.clear();
        self.sync_pending = false;
        self.undelivered = None;
        self.subscriptions.clear();
        self.watchers.clear();
        self.origins.clear();
    }

    /// This validator's index.
    pub fn index(&self) -> ValidatorIndex {
        self.me
    }

    /// The committed chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Committed blocks, height 1 first.
    pub fn blocks(&self) -> &[CommittedBlock] {
        &self.store
    }

    /// Fully proven blocks of this node's chain after `after`, contiguous, at most `max`: what its
    /// L1 submission agent posts.
    pub fn proven_blocks(&self, after: BlockNumber, max: usize) -> Vec<ProvenRecord> {
        self.proven.after(after, max)
    }

    /// The last block of the contiguous run of fully proven blocks on this node's chain.
    pub fn fully_proven_head(&self) -> BlockNumber {
        self.proven.head()
    }

    /// Hashes of the pending transactions (what a crash would drop), by sender then nonce.
    pub fn pending_hashes(&self) -> Vec<B256> {
        self.mempool.hashes()
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
                let outputs = self.consensus.handle(ConsensusInput::StartHeight(self.height()));
                self.run_consensus(outputs, &mut out);
            }
            Input::Peer { from, message } => self.on_peer(from, message, &mut out),
            Input::Client { from, request } => self.on_client(from, request, &mut out),
            Input::Timer(timer) => self.on_timer(timer, &mut out),
        }
        out
    }

    fn on_peer(&mut self, from: ValidatorIndex, message: PeerMessage, out: &mut Vec<Output>) {
        match message {
            PeerMessage::Consensus { message, block } => {
                let height = message.height();
                if height > self.height() {
                    self.request_sync(from, out);
                    if matches!(message, Message::Proposal { .. }) {
                        if let Some(block) = block {
                            if height <= self.height() + FUTURE_HEIGHTS_MAX {
                                let queue = self.future.entry(height).or_default();
                                if queue.len() < FUTURE_PROPOSALS_MAX {
                                    queue.push((from, message, block));
                                }
                            }
                        }
                        return;
                    }
                }
                if height < self.height() {
                    return;
                }
                self.deliver(from, message, block, out);
            }
            PeerMessage::Txs(packets) => {
                for packet in packets {
                    let TxPacket { envelope, sidecar } = packet;
                    if check_sidecar(envelope.to(), sidecar.as_ref()).is_err() {
                        continue;
                    }
                    if let Ok(tx) = SignedTx::from_envelope_cached(envelope, self.chain.spec().chain_id, &self.senders)
                    {
                        let nonce = self.chain.state().nonce(&tx.sender);
                        let _ = self.mempool.insert(tx.with_sidecar(sidecar), nonce);
                    }
                }
            }
            PeerMessage::SyncRequest { from_height } => {
                let start = from_height.saturating_sub(1) as usize;
                let blocks: Vec<CommittedBlock> =
                    self.store.iter().skip(start).take(self.params.sync_batch_max).cloned().collect();
                if !blocks.is_empty() {
                    out.push(Output::ToPeer { to: from, message: PeerMessage::SyncResponse { blocks } });
                }
            }
            PeerMessage::SyncResponse { blocks } => self.on_sync(from, blocks, out),
        }
    }

    /// Passes a consensus message of the current (or a near-future) height to consensus, with the
    /// proposal's validity.
    fn deliver(&mut self, from: ValidatorIndex, message: Message, block: Option<Box<Block>>, out: &mut Vec<Output>) {
        let proposal_valid = match (&message, block) {
            (Message::Proposal { value, height, .. }, Some(block)) => {
                if *height != self.height() {
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

    fn run_consensus(&mut self, outputs: Vec<ConsensusOutput>, out: &mut Vec<Output>) {
        for output in outputs {
            match output {
                ConsensusOutput::Broadcast(message) => {
                    let vote = match &message {
                        Message::Prevote { height, round, value } => Some(((*height, *round, false), *value)),
                        Message::Precommit { height, round, value } => Some(((*height, *round, true), *value)),
                        Message::Proposal { .. } => None,
                    };
                    if let Some((slot, value)) = vote {
                        match self.votes_sent.get(&slot) {
                            Some(sent) if *sent != value => {
                                self.votes_withheld += 1;
                                continue;
                            }
                            Some(_) => {}
                            None => {
                                self.votes_sent.insert(slot, value);
                            }
                        }
                    }
                    let block = match &message {
                        Message::Proposal { value, .. } => self.proposals.get(value).cloned().map(Box::new),
                        _ => None,
                    };
                    if message.height() == self.height() && self.sent_at_height.len() < REBROADCAST_MESSAGES_MAX {
                        self.sent_at_height.push(message.clone());
                    }
                    out.push(Output::Broadcast(PeerMessage::Consensus { message, block }));
                }
                ConsensusOutput::BuildProposal { height, round } => {
                    let ready_at = self.last_commit_ms + self.params.block_time_ms;
                    let after_ms = ready_at.saturating_sub(self.now_ms);
                    out.push(Output::SetTimer { timer: Timer::Propose { height, round }, after_ms });
                }
                ConsensusOutput::ScheduleTimeout { timeout, after_ms } => {
                    out.push(Output::SetTimer { timer: Timer::Consensus(timeout), after_ms });
                }
                // Not yet kept: the validator's write-ahead log is wired in the next change.
                ConsensusOutput::Persist(_) => {}
                ConsensusOutput::Evidence(evidence) => out.push(Output::Evidence(evidence)),
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
                Err(error) => panic!("decided block {value} at height {height} does not execute here: {error}"),
            }
        }
        let mut outcome = self.executed.take().expect("executed above");
        self.chain.commit_block(&mut outcome);
        self.after_commit(outcome, round, certificate, false, out);
        self.start_next_height(out);
    }

    fn start_next_height(&mut self, out: &mut Vec<Output>) {
        let height = self.height();
        self.votes_sent.retain(|(h, _, _), _| *h >= height);
        self.sent_at_height.clear();
        out.push(Output::SetTimer { timer: Timer::Rebroadcast { height }, after_ms: self.rebroadcast_ms() });
        self.proposals.clear();
        self.verdicts.clear();
        self.undelivered = None;
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

    fn after_commit(
        &mut self,
        outcome: BlockOutcome,
        round: Round,
        certificate: Vec<ValidatorIndex>,
        synced: bool,
        out: &mut Vec<Output>,
    ) {
        let number = outcome.block.header.number;
        self.last_commit_ms = self.now_ms;
        self.store.push(CommittedBlock {
            block: outcome.block.clone(),
            hash: outcome.hash,
            round,
            certificate: certificate.clone(),
        });
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
                if let Some(client) = self.origins.remove(&stale.hash) {
                    let reason = TxRejection::NonceTooLow { expected: nonce, got: stale.envelope.nonce() };
                    out.push(Output::ToClient {
                        to: client,
                        message: ClientMessage::TxRejected { hash: stale.hash, reason: reason.to_string() },
                    });
                }
            }
        }
        self.proven.after_commit(&outcome);
        if self.params.serve_witnesses {
            let span_max = self.chain.market().params().system_job_txs_max as usize;
            self.witnesses.after_commit(&outcome, span_max);
        }
        // Tell subscribed plugins about their new jobs.
        let mut by_plugin: BTreeMap<Address, Vec<Assignment>> = BTreeMap::new();
        for event in &outcome.market_events {
            if let EventKind::JobAssigned { job, plugin, .. } = &event.kind {
                if self.subscriptions.contains_key(plugin) {
                    if let Some(assignment) = self.assignment(*job) {
                        by_plugin.entry(*plugin).or_default().push(assignment);
                    }
                }
            }
        }
        let active = self.chain.market().active_count();
        for (plugin, jobs) in by_plugin {
            let to = self.subscriptions[&plugin];
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
        out.push(Output::Committed(Box::new(CommitReport { outcome, round, certificate, synced, market, supply })));
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

    fn on_sync(&mut self, from: ValidatorIndex, blocks: Vec<CommittedBlock>, out: &mut Vec<Output>) {
        self.sync_pending = false;
        let before = self.height();
        let full_batch = blocks.len() >= self.params.sync_batch_max;
        for committed in blocks {
            if committed.block.header.number != self.height() {
                continue;
            }
            let stake: u64 = committed.certificate.iter().map(|v| self.validators.stake(*v)).sum();
            let distinct: BTreeSet<_> = committed.certificate.iter().collect();
            if distinct.len() != committed.certificate.len() || !self.validators.is_quorum(stake) {
                break;
            }
            self.revert_executed();
            let mut outcome = match self.chain.execute_block(&committed.block, Some(&self.senders)) {
                Ok(outcome) => outcome,
                Err(error) => panic!(
                    "certified block {} from validator {from} does not execute here: {error}",
                    committed.block.header.number
                ),
            };
            assert_eq!(outcome.hash, committed.hash, "certified block hash mismatch");
            self.chain.commit_block(&mut outcome);
            self.after_commit(outcome, committed.round, committed.certificate, true, out);
        }
        if self.height() > before {
            // Fresh consensus state at the new height: rounds of the skipped heights are over.
            self.consensus = Consensus::new(self.validators.clone(), Some(self.me), self.params.timeouts.clone());
            self.start_next_height(out);
            if full_batch {
                self.request_sync(from, out);
            }
        }
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
                let result = self.admit(packet.clone());
                let message = match result {
                    Ok(()) => {
                        self.origins.insert(hash, from);
                        let envelope = &packet.envelope;
                        if envelope.to() == Some(MARKET_ADDRESS) && is_proof_submission(envelope.input()) {
                            for watcher in &self.watchers {
                                out.push(Output::ToClient {
                                    to: *watcher,
                                    message: ClientMessage::ProofSeen { tx: packet.clone() },
                                });
                            }
                        }
                        self.gossip.push(packet);
                        ClientMessage::TxAccepted { hash }
                    }
                    Err(reason) => ClientMessage::TxRejected { hash, reason },
                };
                out.push(Output::ToClient { to: from, message });
            }
            ClientRequest::Subscribe { plugin, watch_proofs } => {
                self.subscriptions.insert(plugin, from);
                if watch_proofs {
                    self.watchers.insert(from);
                }
                out.push(Output::ToClient { to: from, message: self.assignments_of(plugin) });
            }
            ClientRequest::Unsubscribe { plugin } => {
                self.subscriptions.remove(&plugin);
                self.watchers.remove(&from);
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
                    },
                });
            }
            ClientRequest::GetAssignments { plugin } => {
                out.push(Output::ToClient { to: from, message: self.assignments_of(plugin) });
            }
        }
    }

    /// The next nonce of `address`: its state nonce, past the consecutive run pending here.
    fn next_nonce(&self, address: &Address) -> u64 {
        let mut next = self.chain.state().nonce(address);
        while self.mempool.has_nonce(address, next) {
            next += 1;
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

    /// Mempool admission: decodes, checks what can be checked against the head state, and queues.
    fn admit(&mut self, packet: TxPacket) -> Result<(), String> {
        let TxPacket { envelope, sidecar } = packet;
        check_sidecar(envelope.to(), sidecar.as_ref()).map_err(|e| e.to_string())?;
        let raw_len = envelope.eip2718_encoded_length();
        if raw_len > self.chain.spec().max_tx_size_bytes {
            return Err(TxRejection::Oversize { size_bytes: raw_len, max_bytes: self.chain.spec().max_tx_size_bytes }
                .to_string());
        }
        let tx = SignedTx::from_envelope_cached(envelope, self.chain.spec().chain_id, &self.senders)
            .map_err(|e| e.to_string())?
            .with_sidecar(sidecar);
        let spec = self.chain.spec();
        if tx.envelope.gas_limit() > spec.gas_limit {
            return Err(TxRejection::GasAboveBlockLimit {
                gas_limit: tx.envelope.gas_limit(),
                block_gas_limit: spec.gas_limit,
            }
            .to_string());
        }
        let base_fee = self.chain.next_base_fee();
        if tx.envelope.max_fee_per_gas() < u128::from(base_fee) {
            return Err(TxRejection::FeeCapBelowBaseFee {
                max_fee_per_gas: tx.envelope.max_fee_per_gas(),
                base_fee_per_gas: base_fee,
            }
            .to_string());
        }
        let available = self.chain.state().balance(&tx.sender);
        if available < tx.max_cost() {
            return Err(TxRejection::InsufficientBalance { required: tx.max_cost(), available }.to_string());
        }
        let nonce = self.chain.state().nonce(&tx.sender);
        self.mempool.insert(tx, nonce).map_err(|e| e.to_string())
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
                let candidates = self.mempool.candidates(self.chain.state(), self.params.block_txs_max);
                let timestamp = (self.now_ms / 1_000).max(self.chain.head().timestamp + 1);
                let proposer = self.validators.address(self.me);
                let outcome = self.chain.build_block_open(&candidates, timestamp, proposer);
                for rejected in &outcome.rejected {
                    self.mempool.remove(&rejected.hash);
                    if let Some(client) = self.origins.remove(&rejected.hash) {
                        out.push(Output::ToClient {
                            to: client,
                            message: ClientMessage::TxRejected {
                                hash: rejected.hash,
                                reason: rejected.reason.to_string(),
                            },
                        });
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
                if !self.gossip.is_empty() {
                    out.push(Output::Broadcast(PeerMessage::Txs(std::mem::take(&mut self.gossip))));
                }
                out.push(Output::SetTimer { timer: Timer::Gossip, after_ms: self.params.gossip_interval_ms });
            }
            Timer::Rebroadcast { height } => {
                if height != self.height() {
                    return;
                }
                // Still undecided: send this height's proposals and votes again (duplicates are
                // counted once), the most recent last.
                for message in self.sent_at_height.clone() {
                    let block = match &message {
                        Message::Proposal { value, .. } => self.proposals.get(value).cloned().map(Box::new),
                        _ => None,
                    };
                    out.push(Output::Broadcast(PeerMessage::Consensus { message, block }));
                }
                out.push(Output::SetTimer { timer: Timer::Rebroadcast { height }, after_ms: self.rebroadcast_ms() });
            }
            Timer::SyncRetry => {
                self.sync_pending = false;
                if let Some((_, _, _, certificate)) = self.undelivered.clone() {
                    if let Some(&peer) = certificate.iter().find(|v| **v != self.me) {
                        self.request_sync(peer, out);
                    }
                }
            }
        }
    }
}

/// Whether calldata is a `submitProof` call.
pub fn is_proof_submission(input: &[u8]) -> bool {
    use alloy::sol_types::SolCall;
    input.len() >= 4 && input[..4] == IZkcrowdMarket::submitProofCall::SELECTOR
}
