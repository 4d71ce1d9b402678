//! The simulated machines: validators running [`zkcrowd_node::Node`], plugins running
//! [`zkcrowd_client::PluginClient`], and the users' load generator.
//!
//! Each is a madsim node with one endpoint and one loop. A validator runs the production host
//! (`zkcrowd_node::Host`) over a madsim runtime; this module adds only the world's side of it (the
//! observer, Byzantine tampering). A plugin runs the production host (`zkcrowd_client::PluginHost`)
//! over a madsim device (proving time from the cost model; the proof real where the chain requires
//! one, else a modeled record) with its behaviour model as the host's strategy. The users' loop is
//! the load generator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::consensus::{Transaction, TxEip1559, TxEnvelope};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::{Either, select};
use futures::stream::PollNext;
use madsim::net::Endpoint;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use zkcrowd_chain::TxKind as ChainTxKind;
use zkcrowd_client::{
    ChainCadence, ClientConfig, PluginClient, PluginEvent, PluginHost, PluginRuntime, PluginTimer, PluginView,
    ProofDue, Strategy,
};
use zkcrowd_market::{MarketCall, ProofData, ProofKind, Statement};
use zkcrowd_node::{CommitReport, Event, Evidence, Host, Node, PeerMessage, Runtime};
use zkcrowd_primitives::DevSigner;
use zkcrowd_primitives::sign_tx;
use zkcrowd_protocol::{
    Assignment, ClientMessage, ClientRequest, DecodeError, MempoolError, TxPacket, TxRefusal, TxRejection, TxStatus,
};

use crate::cost::CostProfile;
use crate::net::{self, Net, Role, Wire};
use crate::observer::{CommitContext, Observer, Record, Sample, SupplyTotals};
use crate::scenario::{ByzantineBehaviour, Scenario};
use crate::setup::{BURN_CONTRACT, STORE_CONTRACT};

/// What every simulated machine shares: parameters, the network, the observer, the clock.
pub struct Ctx {
    /// The scenario.
    pub scenario: Scenario,
    /// The run's seed.
    pub seed: u64,
    /// The network.
    pub net: Net,
    /// The observer.
    pub observer: Arc<Mutex<Observer>>,
    /// Time zero of the run.
    pub epoch: madsim::time::Instant,
    /// The cost model.
    pub cost: CostProfile,
    /// Set when the load phase is over.
    pub load_stopped: AtomicBool,
    /// Real proving, when the scenario asks for it.
    pub real: Option<crate::real::RealProving>,
}

impl Ctx {
    /// Simulated milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).expect("run shorter than 500 million years")
    }

    fn validators(&self) -> u16 {
        self.scenario.chain.validators
    }

    /// The Byzantine behaviour of validator `index` at `now_ms`, if it is Byzantine then (the
    /// latest matching fault wins).
    fn byzantine(&self, index: u16, now_ms: u64) -> Option<ByzantineBehaviour> {
        self.scenario.faults.iter().rev().find_map(|fault| {
            let byzantine = fault.byzantine.filter(|b| b.validator == index)?;
            let from = fault.at.unwrap_or_default().as_millis();
            let until = byzantine.duration.map_or(u64::MAX, |d| from + d.as_millis());
            (from..until).contains(&now_ms).then_some(byzantine.behaviour)
        })
    }

    fn log(&self, record: Record) {
        let now = self.now_ms();
        self.observer.lock().expect("observer lock").log(now, record);
    }
}

/// A per-agent generator: the run's seed, a role tag and an index, so an agent's choices do not
/// depend on the interleaving of the others.
pub fn agent_rng(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8..16].copy_from_slice(&tag.to_be_bytes());
    bytes[16..].copy_from_slice(&index.to_be_bytes());
    ChaCha8Rng::from_seed(keccak256(bytes).0)
}

fn fire_after<T: Send + 'static>(sender: &UnboundedSender<T>, after_ms: u64, value: T) {
    let sender = sender.clone();
    madsim::task::spawn(async move {
        madsim::time::sleep(Duration::from_millis(after_ms)).await;
        let _ = sender.unbounded_send(value);
    });
}

// ------------------------------------------------------------------------------------------------
// Validators

/// Runs validator `index` until the simulation ends or the node is killed: the production host
/// ([`zkcrowd_node::Host`]) over madsim ([`SimRuntime`]).
pub async fn run_validator(ctx: Arc<Ctx>, index: u16, node: Arc<Mutex<Node>>, restarted: bool) {
    let endpoint = net::bind(Role::Validator(index)).await;
    let frames = net::frame_receiver(&endpoint);
    let (timers, timer_rx) = unbounded();
    let mut host = Host::new(node, SimRuntime { ctx, index, endpoint, timers });
    host.start(restarted);
    // Frames before timers when both are ready (the order is part of the run's determinism).
    let frames = frames.filter_map(|frame| futures::future::ready(frame.into_event()));
    let inbox = futures::stream::select_with_strategy(frames, timer_rx, |_: &mut ()| PollNext::Left);
    zkcrowd_node::run(host, inbox).await;
}

/// A validator's runtime in the simulation: madsim's clock and timers, the simulated network, the
/// observer for commits and evidence, and the world's Byzantine faults on what leaves it.
struct SimRuntime {
    ctx: Arc<Ctx>,
    index: u16,
    endpoint: Endpoint,
    timers: UnboundedSender<Event>,
}

impl Runtime for SimRuntime {
    fn now_ms(&self) -> u64 {
        self.ctx.now_ms()
    }

    fn set_timer(&self, after_ms: u64, timer: zkcrowd_node::Timer) {
        fire_after(&self.timers, after_ms, Event::Timer(timer));
    }

    fn send_peer(&self, to: u16, frame: Bytes) {
        let (ctx, index) = (&self.ctx, self.index);
        let now = ctx.now_ms();
        let me = Role::Validator(index);
        // A Byzantine validator's consensus messages (kind 0) are tampered with per recipient.
        let byzantine = ctx.byzantine(index, now).filter(|_| frame.get(1) == Some(&0));
        let Some(behaviour) = byzantine else {
            ctx.net.send_frame(&self.endpoint, now, me, Role::Validator(to), net::Frame::peer(index, frame));
            return;
        };
        let Ok(message) = zkcrowd_protocol::decode::<PeerMessage>(&frame) else { return };
        let key = zkcrowd_primitives::dev_signer(crate::setup::validator_key(u64::from(index)));
        let adversary = crate::byzantine::Adversary { index, key: &key, chain_id: ctx.scenario.chain.chain_id };
        for message in crate::byzantine::tamper(behaviour, &adversary, &message, to) {
            ctx.net.send(&self.endpoint, now, me, Role::Validator(to), &Wire::Peer { from: index, message });
        }
    }

    fn send_client(&self, to: u64, frame: Bytes) {
        let now = self.ctx.now_ms();
        let (me, to) = (Role::Validator(self.index), Role::from_client_id(to));
        self.ctx.net.send_frame(&self.endpoint, now, me, to, net::Frame::response(frame));
    }

    fn committed(&self, report: &CommitReport) {
        let m = report.market;
        let now = self.ctx.now_ms();
        let context = CommitContext {
            sample: Sample {
                height: report.outcome.block.header.number,
                t_ms: now,
                active_plugins: m.active_plugins,
                open_jobs: m.open_jobs,
                assigned_jobs: m.assigned_jobs,
                unproven_blocks: m.unproven_blocks,
                pool_wei: m.pool_wei,
                issued_wei: m.issued_wei,
                fresh_bounty_wei: m.fresh_bounty_wei,
                mempool: m.mempool,
            },
            supply: report.supply.clone(),
            totals: SupplyTotals {
                native_wei: i128::try_from(m.native_total_wei).unwrap_or(i128::MAX),
                market_wei: m.market_balances_wei,
                pool_wei: i128::try_from(m.pool_wei).unwrap_or(i128::MAX),
            },
        };
        self.ctx.observer.lock().expect("observer lock").on_commit(now, self.index, report, context);
    }

    fn evidence(&self, evidence: &Evidence) {
        let now = self.ctx.now_ms();
        self.ctx.observer.lock().expect("observer lock").equivocation(now, self.index, evidence);
    }

    /// A simulated crash keeps the node value, write-ahead log included: it is the disk.
    fn persist(&self, _wal: &zkcrowd_node::WriteAheadLog) {}
}

// ------------------------------------------------------------------------------------------------
// Plugins

/// How a plugin treats its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Proves and submits at once.
    Honest,
    /// Never proves.
    Lazy,
    /// Submits proofs that do not verify.
    InvalidProofs,
    /// Never proves; resubmits proofs seen in the mempool.
    Copier,
    /// Proves, holds the proof until the bounty rises or the deadline nears.
    Withholder,
}

/// A signal from the scheduler.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// Come online.
    Online,
    /// Go offline.
    Offline,
    /// Stay online but idle (no heartbeats, no proving) for a while.
    Idle {
        /// Length.
        for_ms: u64,
    },
}

/// A plugin's fixed traits.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Index.
    pub index: u32,
    /// Key.
    pub signer: DevSigner,
    /// Behaviour.
    pub behaviour: Behaviour,
    /// Device speed.
    pub speed: f64,
    /// Price-driven participation (`plugins.economics`), if this plugin has it.
    pub economics: Option<zkcrowd_client::economics::Economics>,
}

struct Withheld {
    job: u64,
    proof: ProofData,
    created_block: u64,
    deadline_block: u64,
}

/// Blocks before its deadline at which a withholder submits whatever the bounty.
const WITHHOLD_MARGIN_BLOCKS: u64 = 3;
/// At most one copied proof per this long (a copier is a nuisance, not a flood).
const COPY_INTERVAL_MS: u64 = 10_000;
/// Sabotage `stop_proving`: no plugin starts a proof after this simulated time.
const STOP_PROVING_AFTER_MS: u64 = 20_000;

/// Runs plugin `spec.index`: the production host ([`zkcrowd_client::PluginHost`]) over madsim
/// ([`SimDevice`]) with the plugin's behaviour as its strategy ([`Behave`]); offline until the
/// scheduler says otherwise.
pub async fn run_plugin(ctx: Arc<Ctx>, spec: PluginSpec, control: UnboundedReceiver<Control>) {
    let role = Role::Client(spec.index + 1);
    let endpoint = net::bind(role).await;
    let frames = net::frame_receiver(&endpoint);
    let (internal, internal_rx) = unbounded::<PluginEvent>();
    let market = &ctx.scenario.market;
    let cadence = ChainCadence {
        chain_id: ctx.scenario.chain.chain_id,
        block_ms: ctx.scenario.chain.block_time.as_millis(),
        heartbeat_window_blocks: market.heartbeat_window_blocks,
        proof_deadline_blocks: market.proof_deadline_blocks,
        base_fee_wei: ctx.scenario.chain.base_fee.wei(),
    };
    let config = ClientConfig::for_chain(cadence, spec.behaviour == Behaviour::Copier);
    let client = PluginClient::new(spec.signer.clone(), config);
    // One generator per plugin, shared by its device (proving times) and its behaviour (copies),
    // drawn from in the order the plugin's events happen.
    let rng = Arc::new(Mutex::new(agent_rng(ctx.seed, 0x706c_7567, u64::from(spec.index))));
    let validators = ctx.validators();
    let home = (spec.index % u32::from(validators)) as u16;
    let behave = Behave {
        ctx: ctx.clone(),
        behaviour: spec.behaviour,
        me: spec.signer.address(),
        rng: rng.clone(),
        last_copy_ms: 0,
        withheld: Vec::new(),
    };
    let economics = spec.economics;
    let device = SimDevice { ctx, spec, role, endpoint, internal, rng, busy_until_ms: 0 };
    let mut host = PluginHost::new(client, device, behave, validators, home);
    if let Some(economics) = economics {
        host = host.with_participation(zkcrowd_client::economics::Participation::new(economics));
    }
    // Frames first, then the scheduler's signals, then timers and finished proofs, when several
    // are ready (the order is part of the run's determinism).
    let frames = frames.filter_map(|frame| futures::future::ready(frame.into_plugin_event()));
    let control = control.map(|signal| match signal {
        Control::Online => PluginEvent::Online,
        Control::Offline => PluginEvent::Offline,
        Control::Idle { for_ms } => PluginEvent::Pause { for_ms },
    });
    let left = |_: &mut ()| PollNext::Left;
    let inbox = futures::stream::select_with_strategy(
        frames,
        futures::stream::select_with_strategy(control, internal_rx, left),
        left,
    );
    zkcrowd_client::run(host, inbox).await;
}

/// A plugin's machine in the simulation: madsim's clock and timers, the simulated network, and a
/// device whose proving time comes from the cost model (proofs one after another) and whose proof
/// is real where the chain requires one, else a modeled record (labelled so in the log).
struct SimDevice {
    ctx: Arc<Ctx>,
    spec: PluginSpec,
    role: Role,
    endpoint: Endpoint,
    internal: UnboundedSender<PluginEvent>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    busy_until_ms: u64,
}

impl PluginRuntime for SimDevice {
    fn now_ms(&self) -> u64 {
        self.ctx.now_ms()
    }

    fn set_timer(&mut self, after_ms: u64, timer: PluginTimer) {
        fire_after(&self.internal, after_ms, PluginEvent::Timer(timer));
    }

    fn send(&mut self, validator: u16, frame: Bytes) {
        let now = self.ctx.now_ms();
        let frame = net::Frame::request(self.role.client_id(), frame);
        self.ctx.net.send_frame(&self.endpoint, now, self.role, Role::Validator(validator), frame);
    }

    fn start_proof(&mut self, assignment: &Assignment, statement: Statement) {
        let now = self.ctx.now_ms();
        let (ctx, speed) = (&self.ctx, self.spec.speed);
        let proving_ms = {
            let mut rng = self.rng.lock().expect("rng lock");
            ctx.cost.sample_ms(&assignment.kind, assignment.gas_used, speed, &ctx.scenario.proofs, &mut rng)
        };
        // One device: proofs run one after another.
        let done_at = self.busy_until_ms.max(now) + proving_ms;
        self.busy_until_ms = done_at;
        let due = ProofDue { job: assignment.job, statement, proving_ms };
        fire_after(&self.internal, done_at - now, PluginEvent::ProofDue(due));
    }

    fn take_proof(&mut self, assignment: &Assignment, due: &ProofDue) -> Option<ProofData> {
        let (ctx, plugin, job, proving_ms) = (&self.ctx, self.spec.index, due.job, due.proving_ms);
        let valid = self.spec.behaviour != Behaviour::InvalidProofs;
        let real = ctx.real.as_ref().filter(|real| real.picks(assignment));
        match real.map(|real| real.prove(assignment, self.spec.signer.address(), valid)) {
            Some(Ok(produced)) => {
                ctx.observer.lock().expect("observer lock").measured_proof(
                    assignment.kind,
                    produced.measured_ms,
                    proving_ms,
                );
                ctx.log(Record::ProofProduced { plugin, job, proof: ProofKind::Real, valid, proving_ms });
                Some(ProofData::Real(produced.bytes.into()))
            }
            Some(Err(error)) => {
                // Deterministic (the witness is): a prover bug, or inputs a circuit refuses.
                ctx.log(Record::RealProofFailed { plugin, job, reason: error });
                None
            }
            None => {
                ctx.log(Record::ProofProduced { plugin, job, proof: ProofKind::Modeled, valid, proving_ms });
                Some(if valid {
                    ProofData::modeled_valid(&due.statement)
                } else {
                    // A tampered proof: the binding of another statement.
                    ProofData::Modeled(keccak256(due.statement.encode()))
                })
            }
        }
    }

    fn abandon_proofs(&mut self) {
        self.busy_until_ms = self.ctx.now_ms();
    }

    fn frame_refused(&mut self, error: &DecodeError) {
        self.ctx.net.refused(error);
    }
}

/// The behaviour models as the plugin host's strategy.
struct Behave {
    ctx: Arc<Ctx>,
    behaviour: Behaviour,
    me: Address,
    rng: Arc<Mutex<ChaCha8Rng>>,
    last_copy_ms: u64,
    withheld: Vec<Withheld>,
}

impl Strategy for Behave {
    fn proves(&mut self, view: &PluginView, _assignment: &Assignment) -> bool {
        let proves = matches!(self.behaviour, Behaviour::Honest | Behaviour::InvalidProofs | Behaviour::Withholder);
        let sabotaged = view.now_ms >= STOP_PROVING_AFTER_MS
            && self.ctx.scenario.sabotage.contains(&crate::scenario::Sabotage::StopProving);
        proves && !sabotaged
    }

    fn finished(&mut self, _view: &PluginView, assignment: &Assignment, proof: ProofData) -> Option<ProofData> {
        if self.behaviour != Behaviour::Withholder {
            return Some(proof);
        }
        self.withheld.push(Withheld {
            job: assignment.job,
            proof,
            created_block: assignment.created_block,
            deadline_block: assignment.deadline_block,
        });
        None
    }

    /// A withholder releases a proof once the bounty has risen by `withhold_until_factor`, or its
    /// deadline is near.
    fn release(&mut self, view: &PluginView) -> Vec<(u64, ProofData)> {
        let market = &self.ctx.scenario.market;
        let head = view.head_estimate;
        let factor_ppm = (self.ctx.scenario.plugins.withhold_until_factor * 1e6) as u64;
        let mut released = Vec::new();
        let mut keep = Vec::new();
        for w in self.withheld.drain(..) {
            let age = head.saturating_sub(w.created_block);
            let base = market.bounty.supply.factor(view.active_plugins);
            let bounty = market.bounty.age.factor(age, zkcrowd_market::Factor::ONE).mul(base);
            let rose = u128::from(bounty.ppm()) * 1_000_000 >= u128::from(base.ppm()) * u128::from(factor_ppm);
            if rose || head + WITHHOLD_MARGIN_BLOCKS >= w.deadline_block {
                released.push((w.job, w.proof));
            } else {
                keep.push(w);
            }
        }
        self.withheld = keep;
        released
    }

    fn observed(&mut self, view: &PluginView, message: &ClientMessage) -> Option<MarketCall> {
        let ClientMessage::ProofSeen { tx } = message else { return None };
        if self.behaviour != Behaviour::Copier || view.now_ms < self.last_copy_ms + COPY_INTERVAL_MS {
            return None;
        }
        let call = copied_call(tx, self.me, &mut self.rng.lock().expect("rng lock"))?;
        self.last_copy_ms = view.now_ms;
        Some(call)
    }

    fn offline(&mut self) {
        self.withheld.clear();
    }
}

/// A copier's submission: the seen proof, either as is (bound to its prover) or rebound to the
/// copier (then it no longer verifies).
/// A copier's submission of a proof it saw: the same proof (a real one from the sidecar), under
/// its own name half the time (the proof still binds the original prover, so it fails) and the
/// original prover's the other half (the market refuses a submission bound to another prover).
fn copied_call(tx: &TxPacket, me: Address, rng: &mut ChaCha8Rng) -> Option<MarketCall> {
    let MarketCall::SubmitProof { job_id, mut inputs, proof } = MarketCall::decode(tx.envelope.input()).ok()? else {
        return None;
    };
    let proof = match (proof, &tx.sidecar) {
        (ProofData::Sidecar, Some(bytes)) => ProofData::Real(bytes.clone()),
        (proof, _) => proof,
    };
    if inputs.prover == me {
        return None;
    }
    if rng.random_bool(0.5) {
        inputs.prover = me;
    }
    Some(MarketCall::SubmitProof { job_id, inputs, proof })
}

// ------------------------------------------------------------------------------------------------
// Users

struct PendingUserTx {
    user: usize,
    envelope: TxEnvelope,
    /// When it was last sent, or last reported pending.
    sent_ms: u64,
    validator: u16,
    /// A status query is out to `validator` (unanswered).
    queried: bool,
    /// A refusal saying the nonce is used: final unless the validator knows the tx as committed.
    stale_nonce: Option<TxRefusal>,
}

/// Most unconfirmed transactions per user before it waits.
const USER_PENDING_MAX: u8 = 8;
/// A user asks its validator what became of a transaction not committed after this long, and
/// re-sends it to the next validator when that query goes unanswered as long again.
const USER_RESEND_MS: u64 = 15_000;
/// How often the load generator checks for re-sends.
const USER_CHECK_MS: u64 = 5_000;

/// Generates the users' transactions (Poisson at `load.tx_rate`) until the load phase ends, and
/// follows each until the chain settles it, as a wallet would: from `TxCommitted`, or by asking a
/// validator ([`ClientRequest::GetTransaction`]) when that message is overdue, re-sending the tx
/// to the next validator when it is unknown or the validator does not answer.
pub async fn run_users(ctx: Arc<Ctx>, users: Vec<DevSigner>) {
    let role = Role::Client(0);
    let endpoint = net::bind(role).await;
    let mut inbox = net::receiver(&endpoint, &ctx.net);
    let mut rng = agent_rng(ctx.seed, 0x7573_6572, 0);
    let load = &ctx.scenario.load;
    let validators = ctx.validators();
    let rate = load.tx_rate.per_second();
    let interarrival = (rate > 0.0).then(|| Exp::new(rate / 1_000.0).expect("positive rate"));
    let (internal, mut internal_rx) = unbounded::<bool>();
    let mut nonces = vec![0u64; users.len()];
    let mut in_flight = vec![0u8; users.len()];
    let mut pending: BTreeMap<B256, PendingUserTx> = BTreeMap::new();
    // A tx refused for a reason other than its nonce leaves that nonce unused: a hole its user's
    // later txs would wait behind (until evicted). The user's next tx fills it, as a wallet that
    // re-syncs its count would; a hole that turns out used (committed elsewhere) is refused as
    // such and not reopened.
    let mut holes: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); users.len()];
    let base_fee = ctx.scenario.chain.base_fee.wei();
    let send_to = |now: u64, validator: u16, request: ClientRequest| {
        let wire = Wire::Request { from: role.client_id(), request };
        ctx.net.send(&endpoint, now, role, Role::Validator(validator), &wire);
    };
    let resend = |now: u64, p: &mut PendingUserTx| {
        p.validator = (p.validator + 1) % validators;
        p.sent_ms = now;
        p.queried = false;
        send_to(now, p.validator, ClientRequest::SubmitTx(p.envelope.clone().into()));
    };
    if let Some(exp) = &interarrival {
        fire_after(&internal, exp.sample(&mut rng).round() as u64, true);
    }
    fire_after(&internal, USER_CHECK_MS, false);
    loop {
        let next = match select(inbox.next(), internal_rx.next()).await {
            Either::Left((Some(wire), _)) => Either::Left(wire),
            Either::Right((Some(send), _)) => Either::Right(send),
            Either::Left((None, _)) | Either::Right((None, _)) => return,
        };
        let now = ctx.now_ms();
        match next {
            Either::Left(Wire::Response(message)) => match message {
                ClientMessage::TxCommitted { hash, .. }
                | ClientMessage::TxStatus { hash, status: TxStatus::Committed { .. }, .. } => {
                    if let Some(p) = pending.remove(&hash) {
                        in_flight[p.user] -= 1;
                    }
                }
                ClientMessage::TxStatus { hash, status: TxStatus::Pending, .. } => {
                    if let Some(p) = pending.get_mut(&hash) {
                        p.sent_ms = now;
                        p.queried = false;
                    }
                }
                ClientMessage::TxStatus { hash, status: TxStatus::Unknown, .. } => {
                    let Some(p) = pending.get_mut(&hash) else { continue };
                    if let Some(reason) = p.stale_nonce.take() {
                        // Its nonce is used and the validator does not know it as committed.
                        in_flight[p.user] -= 1;
                        pending.remove(&hash);
                        ctx.observer.lock().expect("observer lock").tx_refused(now, hash, reason);
                    } else {
                        resend(now, p);
                    }
                }
                ClientMessage::TxRejected { hash, reason } => {
                    let Some(p) = pending.get_mut(&hash) else { continue };
                    let nonce_used = matches!(
                        reason,
                        TxRefusal::Invalid(TxRejection::NonceTooLow { .. })
                            | TxRefusal::Mempool(MempoolError::NonceTooLow { .. })
                    );
                    if reason.is_known() {
                        // The validator holds it already: wait.
                    } else if nonce_used {
                        // The nonce is used: committed (its `TxCommitted` lost), unless the
                        // validator says otherwise.
                        p.stale_nonce = Some(reason);
                        p.queried = true;
                        send_to(now, p.validator, ClientRequest::GetTransaction { hash });
                    } else {
                        let user = p.user;
                        if !reason.is_nonce_conflict() {
                            holes[user].insert(p.envelope.nonce());
                        }
                        in_flight[user] -= 1;
                        pending.remove(&hash);
                        ctx.observer.lock().expect("observer lock").tx_refused(now, hash, reason);
                    }
                }
                _ => {}
            },
            Either::Left(_) => {}
            Either::Right(true) => {
                if ctx.load_stopped.load(Ordering::Relaxed) {
                    continue;
                }
                if let Some(exp) = &interarrival {
                    fire_after(&internal, exp.sample(&mut rng).round().max(1.0) as u64, true);
                }
                // A user with room for another unconfirmed tx (a few tries, then skip this one).
                let Some(user) =
                    (0..4).map(|_| rng.random_range(0..users.len())).find(|u| in_flight[*u] < USER_PENDING_MAX)
                else {
                    continue;
                };
                let nonce = holes[user].pop_first().unwrap_or_else(|| {
                    nonces[user] += 1;
                    nonces[user] - 1
                });
                let contract = rng.random_bool(load.mix.contract_call);
                // Drawn only when heavy calls are in the mix, so other scenarios keep their draws.
                let heavy = !contract
                    && load.mix.heavy_call > 0.0
                    && rng.random_bool((load.mix.heavy_call / (1.0 - load.mix.contract_call)).min(1.0));
                let (to, input, gas_limit, value, kind) = if contract {
                    let mut input = [0u8; 64];
                    rng.fill(&mut input[..]);
                    (STORE_CONTRACT, Bytes::copy_from_slice(&input), 100_000, U256::ZERO, ChainTxKind::ContractCall)
                } else if heavy {
                    (BURN_CONTRACT, Bytes::new(), load.heavy_call_gas, U256::ZERO, ChainTxKind::ContractCall)
                } else {
                    let mut other = rng.random_range(0..users.len() - 1);
                    if other >= user {
                        other += 1;
                    }
                    let value = U256::from(rng.random_range(1u64..1_000) * 1_000_000_000);
                    (users[other].address(), Bytes::new(), 21_000, value, ChainTxKind::Transfer)
                };
                let envelope = sign_tx(
                    &users[user],
                    TxEip1559 {
                        chain_id: ctx.scenario.chain.chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas: base_fee * 100,
                        max_priority_fee_per_gas: base_fee / 10,
                        to: TxKind::Call(to),
                        value,
                        access_list: Default::default(),
                        input,
                    },
                );
                in_flight[user] += 1;
                let hash = *envelope.tx_hash();
                let validator = (user % usize::from(validators)) as u16;
                ctx.observer.lock().expect("observer lock").tx_submitted(now, hash, kind, user as u32, nonce);
                send_to(now, validator, ClientRequest::SubmitTx(envelope.clone().into()));
                let p = PendingUserTx { user, envelope, sent_ms: now, validator, queried: false, stale_nonce: None };
                pending.insert(hash, p);
            }
            Either::Right(false) => {
                fire_after(&internal, USER_CHECK_MS, false);
                for (hash, p) in pending.iter_mut().filter(|(_, p)| now >= p.sent_ms + USER_RESEND_MS) {
                    if p.queried {
                        // The validator did not answer (down, or the link lost it): move on.
                        resend(now, p);
                    } else {
                        p.queried = true;
                        p.sent_ms = now;
                        send_to(now, p.validator, ClientRequest::GetTransaction { hash: *hash });
                    }
                }
            }
        }
    }
}
