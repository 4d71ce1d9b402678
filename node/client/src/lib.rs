//! The plugin client: what a proving plugin runs to take part in the market. Sans-I/O, like the
//! validator: the host feeds [`Event`]s and carries out [`Action`]s, so the simulator runs the same
//! client as a real plugin would.
//!
//! 1. Coming online: ask the validator for the account (nonce, whether registered) and subscribe
//!    to assignments. Not registered: send `register()`.
//! 2. Heartbeat every `heartbeat_every_ms` while online, so the plugin stays eligible for work
//!    (eligibility needs a heartbeat recent enough to cover a job's whole deadline).
//! 3. For each assignment: ask the host to prove it ([`Action::Prove`]); when the host reports the
//!    proof ([`Event::ProofReady`]), submit it if its deadline has not passed.
//! 4. Nonces are tracked locally; a nonce refusal, or a transient one (mempool full, evicted
//!    behind a nonce gap, fee cap below a base fee that rose), triggers a resync and the call is
//!    re-sent with a fresh nonce, priced at the validator's current base fee. A transaction neither committed nor refused after `resend_after_ms` is re-sent
//!    (a validator answers a re-sent committed tx with `TxCommitted` again).
//! 5. Links lose messages: the account query and the subscription are asked again every
//!    `request_retry_ms` until answered, and the assignment list is refreshed every
//!    `assignments_refresh_ms` (a lost push of a new job would otherwise go unproven).
//! 6. Validators crash, restart and fall silent: every `keepalive_ms` the client asks its validator
//!    whether it is there and still pushes this plugin's assignments. A validator that restarted
//!    forgot the subscription, and says so: the client subscribes again (and its complete answer
//!    brings back every held job). A validator that says nothing for `validator_silent_ms` is given
//!    up: the client asks the host to switch validator ([`Action::SwitchValidator`]), then resyncs
//!    its nonce, subscribes and re-sends its pending transactions there.
//!
//! Every queue is bounded ([`PENDING_TXS_MAX`], [`QUEUED_CALLS_MAX`], [`HELD_JOBS_MAX`]); what a
//! full one drops is counted in [`ClientCounters`].
//!
//! The [`host`] drives the client over a runtime (clock, timers, transport, proving device), the
//! same in the simulator and in a process. Whether a job is proven, and when its proof is
//! submitted, is the host's [`Strategy`]: [`Honest`] here; the simulator's behaviour models (lazy,
//! invalid proofs, copier, withholder) are strategies in `sim/`.

pub mod economics;
pub mod host;
pub mod prover;

pub use host::{Honest, PluginEvent, PluginHost, PluginRuntime, PluginTimer, PluginView, ProofDue, Strategy, run};

use std::collections::{BTreeMap, VecDeque};

use alloy::consensus::{TxEip1559, TxEnvelope};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use zkcrowd_market::{JobId, MarketCall, ProofData, Statement, SubmittedInputs};
use zkcrowd_primitives::{BlockNumber, DevSigner, MARKET_ADDRESS, sign_tx as sign};
use zkcrowd_protocol::{Assignment, ClientMessage, ClientRequest, TxPacket, TxStatus};

/// Client parameters.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The chain's block time (the host estimates the head from it while its validator is silent).
    pub block_ms: u64,
    /// Time between heartbeats while online.
    pub heartbeat_every_ms: u64,
    /// Re-send a transaction not yet committed or refused after this long.
    pub resend_after_ms: u64,
    /// Least fee cap of a transaction. The client offers the larger of this and twice the base
    /// fee its validator last reported plus the tip (the usual wallet rule: room for six full
    /// blocks of base-fee growth); a tx refused because the base fee rose past its cap is signed
    /// again at the new price.
    pub max_fee_per_gas: u128,
    /// Tip of every transaction.
    pub max_priority_fee_per_gas: u128,
    /// Also receive other plugins' proof submissions (copier behaviour).
    pub watch_proofs: bool,
    /// Ask again for the account, or subscribe again, when not answered after this long.
    pub request_retry_ms: u64,
    /// Ask for the full assignment list this often while online.
    pub assignments_refresh_ms: u64,
    /// Ask the validator for a keepalive this often while online.
    pub keepalive_ms: u64,
    /// Switch validator when nothing was heard from it for this long while online (a few
    /// keepalives: one lost reply must not cause a switch).
    pub validator_silent_ms: u64,
}

/// A plugin asks its validator for a keepalive this often.
pub const KEEPALIVE_MS: u64 = 10_000;
/// A plugin switches validator after this long without hearing anything from it: a few
/// keepalives, so one lost reply does not cause a switch.
pub const VALIDATOR_SILENT_MS: u64 = 35_000;
/// A plugin asks again for its account or subscription after this long without an answer: a few
/// client round trips (a slow link has ~1 s of latency and jitter).
pub const REQUEST_RETRY_MS: u64 = 5_000;

/// The chain parameters a plugin's cadence follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainCadence {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block time.
    pub block_ms: u64,
    /// The market's `heartbeat_window_blocks`.
    pub heartbeat_window_blocks: u64,
    /// The market's `proof_deadline_blocks` (less than the window: a genesis rule).
    pub proof_deadline_blocks: u64,
    /// The genesis base fee, wei per gas.
    pub base_fee_wei: u128,
}

impl From<&zkcrowd_protocol::ChainParams> for ChainCadence {
    fn from(params: &zkcrowd_protocol::ChainParams) -> Self {
        Self {
            chain_id: params.chain_id,
            block_ms: params.block_time_ms,
            heartbeat_window_blocks: params.heartbeat_window_blocks,
            proof_deadline_blocks: params.proof_deadline_blocks,
            base_fee_wei: params.base_fee_wei,
        }
    }
}

impl ClientConfig {
    /// The configuration every plugin uses on a chain: a heartbeat twice per slack of the window
    /// over the deadline (a plugin is only assigned jobs its heartbeat keeps it active through,
    /// so it must beat well before the slack runs out), resends after a few blocks (a lost proof
    /// must be sent again well before its deadline), fee cap ten times the genesis base fee, and
    /// the keepalive and failover periods above. `watch_proofs` is a copier's wish.
    pub fn for_chain(chain: ChainCadence, watch_proofs: bool) -> Self {
        let heartbeat_every_ms =
            chain.heartbeat_window_blocks.saturating_sub(chain.proof_deadline_blocks) * chain.block_ms / 2;
        Self {
            chain_id: chain.chain_id,
            block_ms: chain.block_ms,
            heartbeat_every_ms,
            resend_after_ms: (3 * chain.block_ms).max(3_000),
            max_fee_per_gas: chain.base_fee_wei * 10,
            max_priority_fee_per_gas: chain.base_fee_wei / 10,
            watch_proofs,
            request_retry_ms: REQUEST_RETRY_MS,
            // As often as heartbeats: one more small request per heartbeat.
            assignments_refresh_ms: heartbeat_every_ms,
            keepalive_ms: KEEPALIVE_MS,
            validator_silent_ms: VALIDATOR_SILENT_MS,
        }
    }

    /// How often the host should feed [`Event::Tick`]: often enough for heartbeats and keepalives.
    pub fn tick_ms(&self) -> u64 {
        (self.heartbeat_every_ms / 4).clamp(1_000, self.keepalive_ms / 2)
    }
}

/// Transactions sent and not yet committed or refused. A validator queues at most 64 nonces
/// ahead of an account (`zkcrowd_node::NONCE_AHEAD_MAX`); a plugin needs a few at a time (a
/// heartbeat and a proof per held job), so further calls wait in the queue.
pub const PENDING_TXS_MAX: usize = 16;
/// Calls waiting for a nonce or for room in [`PENDING_TXS_MAX`]. A full queue drops the new call
/// (a dropped proof releases its job); counted in [`ClientCounters::calls_dropped`].
pub const QUEUED_CALLS_MAX: usize = 64;
/// Jobs held at once. The market gives a plugin at most `jobs_per_plugin_max` (2 to 4 in the
/// shipped scenarios); assignments beyond this are ignored and counted.
pub const HELD_JOBS_MAX: usize = 64;

/// What the client dropped, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounters {
    /// Calls dropped because [`QUEUED_CALLS_MAX`] calls were waiting.
    pub calls_dropped: u64,
    /// Assignments ignored because [`HELD_JOBS_MAX`] jobs were held.
    pub assignments_dropped: u64,
    /// Account queries and subscriptions asked again after no answer.
    pub requests_retried: u64,
    /// Subscriptions renewed because the validator no longer had one (it restarted).
    pub resubscribed: u64,
    /// Assignment lists fetched because a keepalive showed more jobs than the client held (a lost
    /// push).
    pub assignments_refetched: u64,
    /// Switches to another validator after silence.
    pub validator_switches: u64,
    /// Calls signed again after a transient refusal (full pool, eviction, fee cap outpriced).
    pub txs_resent_after_refusal: u64,
}

/// What a transaction was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `register()`.
    Register,
    /// `heartbeat()`.
    Heartbeat,
    /// `submitProof` for this job.
    Proof(JobId),
    /// Anything else the host asked for.
    Other,
}

/// Something that happened to the client.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum Event {
    /// The plugin comes online.
    Online,
    /// The plugin goes offline (the device sleeps, the browser closes): no message is sent.
    Offline,
    /// Time passes (the host calls this periodically).
    Tick,
    /// A message from the validator.
    Message(ClientMessage),
    /// The host finished (or failed to finish honestly) a proof.
    ProofReady {
        /// The job.
        job: JobId,
        /// The proof to submit.
        proof: ProofData,
    },
    /// Send this market call as is (copier behaviour: someone else's proof under this name).
    SendCall(MarketCall),
    /// The host switched this client to another validator: resubscribe and resync.
    Reconnected,
}

/// What the host must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send to the validator.
    Send(ClientRequest),
    /// Prove this assignment (the host decides how, and reports [`Event::ProofReady`]).
    Prove {
        /// The job.
        assignment: Assignment,
        /// Its statement bound to this plugin.
        statement: Statement,
    },
    /// The validator has been silent for `validator_silent_ms`: send everything from now on to
    /// another validator. The [`Action::Send`]s that follow this action are for the new one.
    SwitchValidator,
}

#[derive(Debug, Clone)]
struct Pending {
    packet: TxPacket,
    sent_at_ms: u64,
    purpose: Purpose,
}

/// A plugin's client.
#[derive(Debug)]
pub struct PluginClient {
    signer: DevSigner,
    address: Address,
    config: ClientConfig,
    nonce: Option<u64>,
    /// The next block's base fee as the validator last reported it.
    base_fee_per_gas: u64,
    registered: bool,
    online: bool,
    last_heartbeat_ms: Option<u64>,
    held: BTreeMap<JobId, Assignment>,
    pending: BTreeMap<B256, Pending>,
    /// Calls waiting for a nonce (with the sidecar of a real proof).
    queue: VecDeque<(MarketCall, U256, Purpose, Option<Bytes>)>,
    head: BlockNumber,
    active_plugins: u64,
    now_ms: u64,
    /// When the unanswered account query was sent (`None`: answered, or none asked).
    account_asked_ms: Option<u64>,
    /// When the unanswered subscription was sent.
    subscribe_asked_ms: Option<u64>,
    /// When the assignment list was last asked for.
    assignments_asked_ms: u64,
    /// When the last keepalive was sent.
    keepalive_asked_ms: u64,
    /// When anything was last heard from the validator.
    heard_ms: u64,
    counters: ClientCounters,
}

/// Gas limit of a market call with `input_len` bytes of calldata. A call to the market runs no EVM
/// code: it costs the intrinsic 21,000 plus calldata, at most 40 gas a byte under EIP-7623's floor
/// (real proofs travel as sidecars, outside the calldata). A margin of 10,000 on top. A block's gas
/// limit counts gas limits, not gas used, so an overstated limit (this was a flat 3,000,000: ten
/// market calls filled a 30M block) starves market calls exactly when blocks are full.
pub fn market_call_gas(input_len: usize) -> u64 {
    21_000 + 40 * input_len as u64 + 10_000
}

impl PluginClient {
    /// A client signing with `signer`.
    pub fn new(signer: DevSigner, config: ClientConfig) -> Self {
        let address = signer.address();
        Self {
            signer,
            address,
            config,
            nonce: None,
            base_fee_per_gas: 0,
            registered: false,
            online: false,
            last_heartbeat_ms: None,
            held: BTreeMap::new(),
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            head: 0,
            active_plugins: 0,
            now_ms: 0,
            account_asked_ms: None,
            subscribe_asked_ms: None,
            assignments_asked_ms: 0,
            keepalive_asked_ms: 0,
            heard_ms: 0,
            counters: ClientCounters::default(),
        }
    }

    /// What the client dropped, by cause.
    pub fn counters(&self) -> ClientCounters {
        self.counters
    }

    /// The plugin's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Whether online.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Jobs held.
    pub fn held(&self) -> impl Iterator<Item = &Assignment> {
        self.held.values()
    }

    /// Whether a transaction has waited for a verdict longer than `ms` (the validator may be down).
    pub fn has_overdue(&self, now_ms: u64, ms: u64) -> bool {
        self.pending.values().any(|p| now_ms >= p.sent_at_ms.saturating_add(ms))
    }

    /// The head the validator last reported.
    pub fn head(&self) -> BlockNumber {
        self.head
    }

    /// Active plugins the validator last reported (for bounty estimates).
    pub fn active_plugins(&self) -> u64 {
        self.active_plugins
    }

    /// Handles one event at `now_ms`.
    pub fn handle(&mut self, now_ms: u64, event: Event) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        match event {
            Event::Online => {
                self.online = true;
                self.nonce = None;
                self.heard_ms = now_ms;
                self.keepalive_asked_ms = now_ms;
                self.resync(&mut out);
            }
            Event::Reconnected => {
                if self.online {
                    self.reconnect(&mut out);
                }
            }
            Event::Offline => {
                self.online = false;
                self.held.clear();
                self.pending.clear();
                self.queue.clear();
                self.account_asked_ms = None;
                self.subscribe_asked_ms = None;
            }
            Event::Tick => self.tick(&mut out),
            Event::Message(message) => self.on_message(message, &mut out),
            Event::ProofReady { job, proof } => {
                if let Some(assignment) = self.held.get(&job)
                    && self.online
                    && self.head <= assignment.deadline_block
                {
                    let statement = assignment.statement(self.address);
                    let call = MarketCall::SubmitProof {
                        job_id: job,
                        inputs: SubmittedInputs::from_statement(&statement),
                        proof,
                    };
                    self.call(call, U256::ZERO, Purpose::Proof(job), &mut out);
                }
            }
            Event::SendCall(call) => {
                if self.online {
                    self.call(call, U256::ZERO, Purpose::Other, &mut out);
                }
            }
        }
        out
    }

    /// Starts over with a (new) validator: nonce, subscription, and every pending transaction
    /// sent again.
    fn reconnect(&mut self, out: &mut Vec<Action>) {
        self.nonce = None;
        self.heard_ms = self.now_ms;
        self.keepalive_asked_ms = self.now_ms;
        self.resync(out);
        for pending in self.pending.values_mut() {
            pending.sent_at_ms = self.now_ms;
            out.push(Action::Send(ClientRequest::SubmitTx(pending.packet.clone())));
        }
    }

    fn resync(&mut self, out: &mut Vec<Action>) {
        self.ask_account(out);
        self.subscribe(out);
    }

    fn ask_account(&mut self, out: &mut Vec<Action>) {
        self.account_asked_ms = Some(self.now_ms);
        out.push(Action::Send(ClientRequest::GetAccount { address: self.address }));
    }

    fn subscribe(&mut self, out: &mut Vec<Action>) {
        self.subscribe_asked_ms = Some(self.now_ms);
        self.assignments_asked_ms = self.now_ms;
        out.push(Action::Send(ClientRequest::Subscribe {
            plugin: self.address,
            watch_proofs: self.config.watch_proofs,
        }));
    }

    /// Whether a request sent at `asked_ms` has waited longer than `request_retry_ms`.
    fn unanswered(&self, asked_ms: Option<u64>) -> bool {
        asked_ms.is_some_and(|asked| self.now_ms >= asked.saturating_add(self.config.request_retry_ms))
    }

    fn tick(&mut self, out: &mut Vec<Action>) {
        if !self.online {
            return;
        }
        // A validator silent for this long is down or cut off: go elsewhere.
        if self.now_ms >= self.heard_ms.saturating_add(self.config.validator_silent_ms) {
            self.counters.validator_switches += 1;
            out.push(Action::SwitchValidator);
            self.reconnect(out);
            return;
        }
        if self.now_ms >= self.keepalive_asked_ms.saturating_add(self.config.keepalive_ms) {
            self.keepalive_asked_ms = self.now_ms;
            out.push(Action::Send(ClientRequest::Keepalive { plugin: self.address }));
        }
        // A lost query or reply must not silence the plugin: ask again until answered.
        if self.nonce.is_none() && self.unanswered(self.account_asked_ms) {
            self.counters.requests_retried += 1;
            self.ask_account(out);
        }
        if self.unanswered(self.subscribe_asked_ms) {
            self.counters.requests_retried += 1;
            self.subscribe(out);
        } else if self.now_ms >= self.assignments_asked_ms.saturating_add(self.config.assignments_refresh_ms) {
            self.assignments_asked_ms = self.now_ms;
            out.push(Action::Send(ClientRequest::GetAssignments { plugin: self.address }));
        }
        let due = self
            .last_heartbeat_ms
            .is_none_or(|last| self.now_ms >= last.saturating_add(self.config.heartbeat_every_ms));
        let heartbeat_pending = self.pending.values().any(|p| p.purpose == Purpose::Heartbeat)
            || self.queue.iter().any(|(_, _, p, _)| *p == Purpose::Heartbeat);
        if self.registered && due && !heartbeat_pending {
            self.last_heartbeat_ms = Some(self.now_ms);
            self.call(MarketCall::Heartbeat, U256::ZERO, Purpose::Heartbeat, out);
        }
        let resend_after_ms = self.config.resend_after_ms;
        for pending in self.pending.values_mut() {
            if self.now_ms >= pending.sent_at_ms.saturating_add(resend_after_ms) {
                pending.sent_at_ms = self.now_ms;
                out.push(Action::Send(ClientRequest::SubmitTx(pending.packet.clone())));
            }
        }
    }

    fn on_message(&mut self, message: ClientMessage, out: &mut Vec<Action>) {
        self.heard_ms = self.now_ms;
        match message {
            ClientMessage::Keepalive { plugin, subscribed, jobs, head, base_fee_per_gas } if plugin == self.address => {
                self.head = self.head.max(head);
                self.base_fee_per_gas = base_fee_per_gas;
                if !self.online || self.subscribe_asked_ms.is_some() {
                    return;
                }
                if !subscribed {
                    // It restarted and forgot us (or never got the subscription): subscribe again.
                    self.counters.resubscribed += 1;
                    self.subscribe(out);
                } else if usize::try_from(jobs).unwrap_or(usize::MAX) != self.held.len() {
                    // More jobs there: a push of a new job was lost. Fewer: a job we hold was
                    // proven or taken back and the news was lost, and it may hide a lost push too.
                    // Fetch the complete list now, not at the next refresh (a deadline may come
                    // first); its answer replaces what we hold.
                    self.counters.assignments_refetched += 1;
                    self.assignments_asked_ms = self.now_ms;
                    out.push(Action::Send(ClientRequest::GetAssignments { plugin: self.address }));
                }
            }
            ClientMessage::Account { address, nonce, market_balance, head, base_fee_per_gas, .. }
                if address == self.address =>
            {
                self.account_asked_ms = None;
                self.head = self.head.max(head);
                self.base_fee_per_gas = base_fee_per_gas;
                // Pending txs already hold nonces below the validator's count; keep ours if ahead.
                self.nonce = Some(self.nonce.map_or(nonce, |n| n.max(nonce)));
                self.registered |= market_balance.is_some();
                let registering = self.pending.values().any(|p| p.purpose == Purpose::Register)
                    || self.queue.iter().any(|(_, _, p, _)| *p == Purpose::Register);
                if self.online && !self.registered && !registering {
                    self.call(MarketCall::Register, U256::ZERO, Purpose::Register, out);
                }
                self.flush_queue(out);
            }
            ClientMessage::Assignments { plugin, jobs, complete, head, active_plugins } if plugin == self.address => {
                self.head = self.head.max(head);
                self.active_plugins = active_plugins;
                if complete {
                    // The answer to a subscription (or a refresh, sent only once subscribed).
                    self.subscribe_asked_ms = None;
                    self.held.retain(|job, _| jobs.iter().any(|a| a.job == *job));
                }
                for assignment in jobs {
                    if !self.online || self.held.contains_key(&assignment.job) {
                        continue;
                    }
                    if self.held.len() >= HELD_JOBS_MAX {
                        self.counters.assignments_dropped += 1;
                        continue;
                    }
                    let statement = assignment.statement(self.address);
                    self.held.insert(assignment.job, assignment.clone());
                    out.push(Action::Prove { assignment, statement });
                }
            }
            ClientMessage::TxCommitted { hash, block, success }
            | ClientMessage::TxStatus { hash, status: TxStatus::Committed { block, success }, .. } => {
                self.head = self.head.max(block);
                if let Some(pending) = self.pending.remove(&hash) {
                    match pending.purpose {
                        Purpose::Register if success => {
                            self.registered = true;
                            self.last_heartbeat_ms = Some(self.now_ms);
                        }
                        Purpose::Register => self.registered = true, // already registered
                        Purpose::Proof(job) => {
                            self.held.remove(&job);
                        }
                        Purpose::Heartbeat | Purpose::Other => {}
                    }
                }
                self.flush_queue(out);
            }
            ClientMessage::TxRejected { hash, reason } => {
                if reason.is_known() {
                    // The validator holds this very tx: it is pending there. Keep waiting; the
                    // resend timer asks again, and a committed tx is answered with `TxCommitted`.
                    return;
                }
                let Some(pending) = self.pending.remove(&hash) else { return };
                if reason.is_nonce_conflict() || reason.is_transient() {
                    // Our count drifted (a lost tx, another validator's view), or the tx was refused
                    // for now (full pool, evicted behind a gap, outpriced by a rising base fee):
                    // resync and sign the call again with the validator's count and price.
                    if reason.is_transient() {
                        self.counters.txs_resent_after_refusal += 1;
                    }
                    if let Some(call) = decode_call(&pending.packet.envelope) {
                        let value = pending.envelope_value();
                        // Re-queued past the bound: it was admitted once already, and at most
                        // `PENDING_TXS_MAX` calls come back this way.
                        self.queue.push_back((call, value, pending.purpose, pending.packet.sidecar));
                    }
                    self.nonce = None;
                    self.ask_account(out);
                } else if let Purpose::Proof(job) = pending.purpose {
                    self.held.remove(&job);
                }
                self.flush_queue(out);
            }
            ClientMessage::TxAccepted { .. }
            | ClientMessage::Keepalive { .. }
            | ClientMessage::ProofSeen { .. }
            | ClientMessage::TxStatus { .. }
            | ClientMessage::Account { .. }
            | ClientMessage::Assignments { .. }
            | ClientMessage::Quote(_) => {}
        }
    }

    /// Queues a call. A real proof travels as a sidecar (its bytes are not deterministic, so they
    /// stay out of the tx hash; see `zkcrowd_chain::TxPacket`).
    fn call(&mut self, call: MarketCall, value: U256, purpose: Purpose, out: &mut Vec<Action>) {
        let (call, sidecar) = match call {
            MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Real(bytes) } => {
                (MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Sidecar }, Some(bytes))
            }
            call => (call, None),
        };
        if self.queue.len() >= QUEUED_CALLS_MAX {
            self.counters.calls_dropped += 1;
            if let Purpose::Proof(job) = purpose {
                self.held.remove(&job);
            }
            return;
        }
        self.queue.push_back((call, value, purpose, sidecar));
        self.flush_queue(out);
    }

    /// The fee cap of the next tx: twice the last reported base fee plus the tip, at least the
    /// configured floor.
    fn fee_cap(&self) -> u128 {
        let priced = 2 * u128::from(self.base_fee_per_gas) + self.config.max_priority_fee_per_gas;
        priced.max(self.config.max_fee_per_gas)
    }

    fn flush_queue(&mut self, out: &mut Vec<Action>) {
        while let Some(nonce) = self.nonce {
            if self.pending.len() >= PENDING_TXS_MAX {
                break;
            }
            let Some((call, value, purpose, sidecar)) = self.queue.pop_front() else { break };
            let input = call.encode();
            let envelope = sign(
                &self.signer,
                TxEip1559 {
                    chain_id: self.config.chain_id,
                    nonce,
                    gas_limit: market_call_gas(input.len()),
                    max_fee_per_gas: self.fee_cap(),
                    max_priority_fee_per_gas: self.config.max_priority_fee_per_gas,
                    to: TxKind::Call(MARKET_ADDRESS),
                    value,
                    access_list: Default::default(),
                    input,
                },
            );
            // EIP-2681: an account's nonce stays below u64::MAX, so this never saturates in use.
            self.nonce = Some(nonce.saturating_add(1));
            let packet = TxPacket { envelope, sidecar };
            self.pending.insert(packet.hash(), Pending { packet: packet.clone(), sent_at_ms: self.now_ms, purpose });
            out.push(Action::Send(ClientRequest::SubmitTx(packet)));
        }
    }
}

impl Pending {
    fn envelope_value(&self) -> U256 {
        use alloy::consensus::Transaction;
        self.packet.envelope.value()
    }
}

fn decode_call(envelope: &TxEnvelope) -> Option<MarketCall> {
    use alloy::consensus::Transaction;
    MarketCall::decode(envelope.input()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkcrowd_ledger::Digest;
    use zkcrowd_market::JobKind;
    use zkcrowd_protocol::{MempoolError, TxRefusal, TxRejection};

    fn client() -> PluginClient {
        PluginClient::new(
            zkcrowd_primitives::dev_signer(7),
            ClientConfig {
                chain_id: 1,
                block_ms: 2_000,
                heartbeat_every_ms: 10_000,
                resend_after_ms: 5_000,
                max_fee_per_gas: 10,
                max_priority_fee_per_gas: 1,
                watch_proofs: false,
                request_retry_ms: 3_000,
                assignments_refresh_ms: 30_000,
                keepalive_ms: 10_000,
                validator_silent_ms: 35_000,
            },
        )
    }

    fn account(c: &PluginClient, nonce: u64, registered: bool) -> ClientMessage {
        let market_balance = registered.then(Default::default);
        ClientMessage::Account {
            address: c.address(),
            nonce,
            balance: U256::ZERO,
            market_balance,
            head: 1,
            base_fee_per_gas: 0,
        }
    }

    fn sent_packets(actions: &[Action]) -> Vec<TxPacket> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(ClientRequest::SubmitTx(tx)) => Some(tx.clone()),
                _ => None,
            })
            .collect()
    }

    fn asks_account(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::Send(ClientRequest::GetAccount { .. })))
    }

    fn subscribes(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::Send(ClientRequest::Subscribe { .. })))
    }

    fn sent_calls(actions: &[Action]) -> Vec<MarketCall> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(ClientRequest::SubmitTx(tx)) => decode_call(&tx.envelope),
                _ => None,
            })
            .collect()
    }

    /// Goal: the client registers when unregistered, heartbeats on schedule, proves assignments
    /// and submits proofs with consecutive nonces; a nonce refusal resyncs and re-sends.
    #[test]
    fn lifecycle() {
        let mut c = client();
        let address = c.address();
        let actions = c.handle(0, Event::Online);
        assert!(matches!(actions[0], Action::Send(ClientRequest::GetAccount { .. })));
        let account = ClientMessage::Account {
            address,
            nonce: 3,
            balance: U256::ZERO,
            market_balance: None,
            head: 1,
            base_fee_per_gas: 0,
        };
        let actions = c.handle(10, Event::Message(account));
        assert_eq!(sent_calls(&actions), vec![MarketCall::Register]);
        let Action::Send(ClientRequest::SubmitTx(register)) = &actions[0] else { panic!() };
        use alloy::consensus::Transaction;
        assert_eq!(register.envelope.nonce(), 3);
        c.handle(20, Event::Message(ClientMessage::TxCommitted { hash: register.hash(), block: 2, success: true }));
        assert!(sent_calls(&c.handle(5_000, Event::Tick)).is_empty(), "no heartbeat before it is due");
        assert_eq!(sent_calls(&c.handle(10_020, Event::Tick)), vec![MarketCall::Heartbeat]);

        let assignment = Assignment {
            job: 9,
            kind: JobKind::Tx { block: 2, index: 0 },
            pre_root: Digest::default(),
            post_root: Digest::default(),
            commitment: Digest::default(),
            created_block: 2,
            deadline_block: 20,
            inputs: None,
            real_required: false,
            gas_used: 0,
        };
        let message = ClientMessage::Assignments {
            plugin: address,
            jobs: vec![assignment.clone()],
            complete: false,
            head: 3,
            active_plugins: 1,
        };
        let actions = c.handle(10_100, Event::Message(message));
        let Action::Prove { statement, .. } = &actions[0] else { panic!("expected a prove action") };
        assert_eq!(statement.prover, address);
        // A real proof goes out as a sidecar: the calldata carries only the marker.
        let proof = ProofData::Real(Bytes::from_static(b"plonky2 proof bytes"));
        let actions = c.handle(11_000, Event::ProofReady { job: 9, proof });
        let Action::Send(ClientRequest::SubmitTx(submission)) = &actions[0] else { panic!() };
        assert_eq!(submission.envelope.nonce(), 5, "register 3, heartbeat 4, proof 5");
        assert_eq!(submission.sidecar, Some(Bytes::from_static(b"plonky2 proof bytes")));
        assert!(matches!(sent_calls(&actions)[..], [MarketCall::SubmitProof { proof: ProofData::Sidecar, .. }]));

        // A nonce refusal: resync, then the same call goes out with the validator's nonce.
        let actions = c.handle(
            11_100,
            Event::Message(ClientMessage::TxRejected {
                hash: submission.hash(),
                reason: TxRefusal::Invalid(TxRejection::NonceTooLow { expected: 6, got: 5 }),
            }),
        );
        assert!(matches!(actions[0], Action::Send(ClientRequest::GetAccount { .. })));
        let account = ClientMessage::Account {
            address,
            nonce: 6,
            balance: U256::ZERO,
            market_balance: Some(Default::default()),
            head: 4,
            base_fee_per_gas: 0,
        };
        let actions = c.handle(11_200, Event::Message(account));
        let calls = sent_calls(&actions);
        assert!(matches!(calls[..], [MarketCall::SubmitProof { job_id: 9, .. }]), "{calls:?}");
        let Action::Send(ClientRequest::SubmitTx(resent)) = &actions[0] else { panic!() };
        assert_eq!(resent.sidecar, submission.sidecar, "the sidecar survives a re-send");

        // Offline drops held work and sends nothing.
        assert!(c.handle(12_000, Event::Offline).is_empty());
        assert_eq!(c.held().count(), 0);
    }

    /// Goal: the client reacts to each class of typed refusal: a mempool nonce conflict resyncs
    /// and re-signs the call with the validator's count; "already known" keeps waiting (the tx
    /// is re-sent later, not dropped); any other refusal of a proof releases its job.
    #[test]
    fn typed_refusals() {
        for conflict in [
            TxRefusal::Mempool(MempoolError::NonceTooLow { expected: 4, got: 3 }),
            TxRefusal::Mempool(MempoolError::NonceTaken { nonce: 3 }),
            TxRefusal::Mempool(MempoolError::NonceTooFarAhead { expected: 0, got: 3, ahead_max: 2 }),
            TxRefusal::Invalid(TxRejection::NonceGap { expected: 1, got: 3 }),
        ] {
            let mut c = client();
            c.handle(0, Event::Online);
            let register = sent_packets(&c.handle(10, Event::Message(account(&c, 3, false))));
            assert_eq!(register.len(), 1);
            let actions = c.handle(
                20,
                Event::Message(ClientMessage::TxRejected { hash: register[0].hash(), reason: conflict.clone() }),
            );
            assert!(asks_account(&actions), "{conflict:?}: resync");
            assert!(sent_packets(&actions).is_empty(), "{conflict:?}: nothing signed before the count is known");
            let resent = sent_packets(&c.handle(30, Event::Message(account(&c, 4, false))));
            assert_eq!(resent.len(), 1, "{conflict:?}: the call goes out again");
            assert_eq!(decode_call(&resent[0].envelope), Some(MarketCall::Register));
            use alloy::consensus::Transaction;
            assert_eq!(resent[0].envelope.nonce(), 4, "{conflict:?}: with the validator's count");
        }

        // Already known: still pending; re-sent on schedule; committed after all.
        let mut c = client();
        c.handle(0, Event::Online);
        let register = sent_packets(&c.handle(10, Event::Message(account(&c, 0, false))));
        let known = TxRefusal::Mempool(MempoolError::Known);
        let actions =
            c.handle(20, Event::Message(ClientMessage::TxRejected { hash: register[0].hash(), reason: known }));
        assert!(actions.is_empty(), "no resync, no new tx: {actions:?}");
        assert!(c.has_overdue(5_010, 4_990), "still pending");
        assert_eq!(sent_packets(&c.handle(5_010, Event::Tick)), register, "re-sent after resend_after_ms");
        c.handle(
            5_100,
            Event::Message(ClientMessage::TxCommitted { hash: register[0].hash(), block: 2, success: true }),
        );
        assert!(!c.has_overdue(100_000, 0), "settled");

        // A refused proof releases its job; the plugin holds nothing.
        let mut c = client();
        c.handle(0, Event::Online);
        c.handle(10, Event::Message(account(&c, 0, true)));
        let assignment = Assignment {
            job: 5,
            kind: JobKind::Tx { block: 2, index: 0 },
            pre_root: Digest::default(),
            post_root: Digest::default(),
            commitment: Digest::default(),
            created_block: 2,
            deadline_block: 20,
            inputs: None,
            real_required: false,
            gas_used: 0,
        };
        let message = ClientMessage::Assignments {
            plugin: c.address(),
            jobs: vec![assignment],
            complete: true,
            head: 3,
            active_plugins: 1,
        };
        c.handle(20, Event::Message(message));
        let proof = sent_packets(&c.handle(30, Event::ProofReady { job: 5, proof: ProofData::Modeled(B256::ZERO) }));
        assert_eq!(c.held().count(), 1);
        let rejection =
            TxRefusal::Invalid(TxRejection::InsufficientBalance { required: U256::from(2), available: U256::from(1) });
        let actions =
            c.handle(40, Event::Message(ClientMessage::TxRejected { hash: proof[0].hash(), reason: rejection }));
        assert!(!asks_account(&actions));
        assert_eq!(c.held().count(), 0, "the job is released");
    }

    /// Goal: a lost account query or reply, or a lost subscription, does not silence the client:
    /// each is asked again after `request_retry_ms` until answered, and no sooner; once answered,
    /// the assignment list is refreshed every `assignments_refresh_ms`. Method: drop every answer
    /// for a while, then answer.
    #[test]
    fn lost_queries_are_asked_again() {
        let mut c = client();
        let actions = c.handle(0, Event::Online);
        assert!(asks_account(&actions));
        assert!(subscribes(&actions));
        // Nothing answered: no repeat before the retry time, then both again.
        let actions = c.handle(2_000, Event::Tick);
        assert!(!asks_account(&actions));
        assert!(!subscribes(&actions));
        let actions = c.handle(3_000, Event::Tick);
        assert!(asks_account(&actions), "the account query is asked again");
        assert!(subscribes(&actions), "the subscription is made again");
        let actions = c.handle(6_500, Event::Tick);
        assert!(asks_account(&actions), "and again while unanswered");
        assert_eq!(c.counters().requests_retried, 4);
        // Answered: registration goes out, no more repeats.
        let register = sent_packets(&c.handle(6_600, Event::Message(account(&c, 0, false))));
        assert_eq!(register.len(), 1);
        let complete = ClientMessage::Assignments {
            plugin: c.address(),
            jobs: vec![],
            complete: true,
            head: 1,
            active_plugins: 0,
        };
        c.handle(6_700, Event::Message(complete));
        let actions = c.handle(20_000, Event::Tick);
        assert!(!asks_account(&actions));
        assert!(!subscribes(&actions));
        // The list is refreshed on schedule.
        let refresh = |actions: &[Action]| {
            actions.iter().any(|a| matches!(a, Action::Send(ClientRequest::GetAssignments { .. })))
        };
        assert!(!refresh(&c.handle(30_000, Event::Tick)));
        assert!(refresh(&c.handle(36_500, Event::Tick)), "30 s after the subscription");
        assert!(!refresh(&c.handle(40_000, Event::Tick)));
    }

    /// Goal: a restarted validator (it forgot the subscription) and a silent one (down or cut off)
    /// are both noticed. Method: answer keepalives with `subscribed: false`, then say nothing for
    /// `validator_silent_ms`; the client must subscribe again, then switch validator, resync and
    /// re-send its pending transaction there.
    #[test]
    fn restarted_and_silent_validators_are_noticed() {
        let mut c = client();
        c.handle(0, Event::Online);
        sent_packets(&c.handle(100, Event::Message(account(&c, 0, true))));
        let complete = ClientMessage::Assignments {
            plugin: c.address(),
            jobs: vec![],
            complete: true,
            head: 1,
            active_plugins: 1,
        };
        c.handle(200, Event::Message(complete));
        let keepalive =
            |actions: &[Action]| actions.iter().any(|a| matches!(a, Action::Send(ClientRequest::Keepalive { .. })));
        let actions = c.handle(5_000, Event::Tick);
        assert!(!keepalive(&actions), "not yet due");
        let heartbeat = sent_packets(&actions);
        assert_eq!(heartbeat.len(), 1, "the first heartbeat");
        assert!(keepalive(&c.handle(10_000, Event::Tick)), "a keepalive every keepalive_ms");
        // The validator restarted: it answers, but no longer pushes our assignments.
        let forgot =
            ClientMessage::Keepalive { plugin: c.address(), subscribed: false, jobs: 0, head: 5, base_fee_per_gas: 0 };
        let actions = c.handle(10_100, Event::Message(forgot.clone()));
        assert!(subscribes(&actions), "subscribe again");
        assert!(!subscribes(&c.handle(10_200, Event::Message(forgot))), "once, while that one is on its way");
        assert_eq!(c.counters().resubscribed, 1);
        // Subscribed again; a keepalive then shows a job the client never heard of (a lost push):
        // the complete list is fetched at once.
        let complete = ClientMessage::Assignments {
            plugin: c.address(),
            jobs: vec![],
            complete: true,
            head: 5,
            active_plugins: 1,
        };
        c.handle(10_300, Event::Message(complete));
        let missed =
            ClientMessage::Keepalive { plugin: c.address(), subscribed: true, jobs: 1, head: 6, base_fee_per_gas: 0 };
        let actions = c.handle(10_400, Event::Message(missed));
        assert!(actions.iter().any(|a| matches!(a, Action::Send(ClientRequest::GetAssignments { .. }))));
        assert_eq!(c.counters().assignments_refetched, 1);
        // Then silence: no switch before validator_silent_ms after the last message (10.4 s)...
        let actions = c.handle(45_000, Event::Tick);
        assert!(!actions.iter().any(|a| matches!(a, Action::SwitchValidator)));
        // ...and a switch at it, followed by a resync and the pending heartbeat re-sent.
        let actions = c.handle(45_400, Event::Tick);
        let switch = actions.iter().position(|a| matches!(a, Action::SwitchValidator)).expect("a switch");
        let after = &actions[switch + 1..];
        assert!(asks_account(after), "the nonce is resynced with the new validator");
        assert!(subscribes(after), "and the subscription made there");
        assert_eq!(sent_packets(after), heartbeat, "the pending heartbeat is re-sent there");
        assert_eq!(c.counters().validator_switches, 1);
    }

    /// Goal: the client's queues stay within their bounds and count what they drop: calls past
    /// `QUEUED_CALLS_MAX` while no nonce is known, and txs in flight past `PENDING_TXS_MAX`.
    #[test]
    fn queues_are_bounded() {
        let mut c = client();
        c.handle(0, Event::Online);
        for _ in 0..QUEUED_CALLS_MAX + 5 {
            c.handle(10, Event::SendCall(MarketCall::Heartbeat));
        }
        assert_eq!(c.counters().calls_dropped, 5);
        let sent = sent_packets(&c.handle(20, Event::Message(account(&c, 0, true))));
        assert_eq!(sent.len(), PENDING_TXS_MAX, "only this many in flight");
        let next = sent_packets(
            &c.handle(30, Event::Message(ClientMessage::TxCommitted { hash: sent[0].hash(), block: 2, success: true })),
        );
        assert_eq!(next.len(), 1, "a settled tx makes room for the next call");
    }
}
