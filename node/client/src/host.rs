//! The plugin host: everything a running plugin does besides I/O and proving, over a small
//! runtime interface, so the simulator and a real process run the same code.
//!
//! [`PluginClient`] is the sans-I/O state machine; the host is its driver. It keeps the tick
//! cadence (one generation of ticks per online session, so a session's stale ticks die), routes
//! requests to the plugin's current validator and moves to the next one when the client gives its
//! validator up ([`Action::SwitchValidator`]), decodes every frame it receives (a frame that does
//! not decode is a counted drop, [`PluginHost::frames_malformed`], never a panic), hands proving
//! to the runtime's device, and submits a finished proof only while its job is still held.
//!
//! What a plugin *chooses* is a [`Strategy`]: whether to prove a job, when to submit a finished
//! proof, what to send on seeing others' proofs. [`Honest`] proves everything and submits at once;
//! the simulator's adversaries (lazy, copier, withholder) and price-driven plugins are other
//! strategies, outside this crate.
//!
//! # Runtime contract
//!
//! A [`PluginRuntime`] supplies the clock, the timers, the transport and the proving device:
//! 1. `now_ms` is monotonic milliseconds (virtual time in a simulation).
//! 2. `set_timer(after_ms, timer)` feeds [`PluginEvent::Timer`]`(timer)` back after `after_ms`;
//!    timers are never cancelled (the host ignores stale ones).
//! 3. `send(validator, frame)` delivers an encoded [`ClientRequest`] to validator `validator`
//!    (an index into the validators the plugin knows, modulo their count) best effort; what the
//!    validator answers comes back as [`PluginEvent::Frame`].
//! 4. `start_proof` starts proving a job on the device (one proof at a time or several: the
//!    runtime's choice) and feeds [`PluginEvent::ProofDue`] back when the device is done; the
//!    host then takes the proof with `take_proof` only if the job is still held, so a runtime that
//!    produces proof bytes lazily (the simulator) does no work for a job given up. `abandon_proofs`
//!    drops the device's work when the plugin goes offline.
//! 5. `frame_refused` is told of every frame that did not decode (after the host counted it).
//!
//! The simulator's runtime is madsim's (`sim/src/agents.rs`); the event loop is [`run`], the same
//! for every runtime.

use alloy::primitives::Bytes;
use futures::{Stream, StreamExt};
use zkcrowd_market::{JobId, MarketCall, ProofData, Statement};
use zkcrowd_primitives::BlockNumber;
use zkcrowd_protocol::{Assignment, ClientMessage, ClientRequest, DecodeError, decode, encode};

use crate::economics::{Change, Participation, Stance};
use crate::{Action, Event, PluginClient};

/// What a plugin's host needs from its surroundings (see the module documentation).
pub trait PluginRuntime {
    /// Milliseconds since the runtime's epoch, monotonic.
    fn now_ms(&self) -> u64;
    /// Feed [`PluginEvent::Timer`]`(timer)` back after `after_ms`.
    fn set_timer(&mut self, after_ms: u64, timer: PluginTimer);
    /// Send an encoded [`zkcrowd_protocol::ClientRequest`] to validator `validator`.
    fn send(&mut self, validator: u16, frame: Bytes);
    /// Start proving `assignment` (its `statement` bound to this plugin); feed
    /// [`PluginEvent::ProofDue`] back when done.
    fn start_proof(&mut self, assignment: &Assignment, statement: Statement);
    /// The proof the device finished (`None`: proving failed; the runtime reports why).
    fn take_proof(&mut self, assignment: &Assignment, due: &ProofDue) -> Option<ProofData>;
    /// The plugin went offline: the device drops its work.
    fn abandon_proofs(&mut self);
    /// A frame from a validator did not decode (the host counted it; the runtime logs it).
    fn frame_refused(&mut self, error: &DecodeError);
}

/// A timer the host asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginTimer {
    /// The client's periodic tick of one online session.
    Tick {
        /// The session it belongs to.
        generation: u64,
    },
    /// A price-driven plugin's decision time ([`crate::economics`]) in one online session.
    Decide {
        /// The session it belongs to.
        generation: u64,
    },
}

/// The device finished a job's proof.
#[derive(Debug, Clone)]
pub struct ProofDue {
    /// The job.
    pub job: JobId,
    /// Its statement, bound to this plugin.
    pub statement: Statement,
    /// How long the device took, ms (modeled in a simulation; never enters chain state).
    pub proving_ms: u64,
}

/// What reaches the host.
#[derive(Debug, Clone)]
pub enum PluginEvent {
    /// The plugin comes online (the person starts it).
    Online,
    /// The plugin goes offline (the device sleeps, the browser closes).
    Offline,
    /// The person pauses the plugin: online, but no heartbeats and no new proofs for `for_ms`.
    Pause {
        /// How long.
        for_ms: u64,
    },
    /// An encoded [`ClientMessage`] from a validator.
    Frame(Bytes),
    /// A timer the host asked for.
    Timer(PluginTimer),
    /// The device finished a proof.
    ProofDue(ProofDue),
}

/// What a strategy may look at: the client's view of the chain.
#[derive(Debug, Clone, Copy)]
pub struct PluginView {
    /// Now.
    pub now_ms: u64,
    /// The chain head as last reported, advanced by the blocks that the silence since suggests.
    pub head_estimate: BlockNumber,
    /// Active plugins as last reported.
    pub active_plugins: u64,
    /// The client is online.
    pub online: bool,
}

/// A plugin's choices (see the module documentation). Every method has the honest default.
pub trait Strategy {
    /// Whether to prove `assignment` at all.
    fn proves(&mut self, _view: &PluginView, _assignment: &Assignment) -> bool {
        true
    }
    /// A finished proof of `assignment`: `Some` submits it now, `None` keeps it (the strategy
    /// then hands it back from [`Strategy::release`]).
    fn finished(&mut self, _view: &PluginView, _assignment: &Assignment, proof: ProofData) -> Option<ProofData> {
        Some(proof)
    }
    /// At each tick, before the client's: kept proofs to submit now.
    fn release(&mut self, _view: &PluginView) -> Vec<(JobId, ProofData)> {
        Vec::new()
    }
    /// A message from the validator, before the client sees it: a call to send as is.
    fn observed(&mut self, _view: &PluginView, _message: &ClientMessage) -> Option<MarketCall> {
        None
    }
    /// The plugin went offline: drop what was kept.
    fn offline(&mut self) {}
}

/// Proves every job and submits each proof as soon as it is done.
#[derive(Debug, Clone, Copy, Default)]
pub struct Honest;

impl Strategy for Honest {}

/// A plugin's host: its client, runtime and strategy, and the validator it talks to.
#[derive(Debug)]
pub struct PluginHost<R, S> {
    client: PluginClient,
    runtime: R,
    strategy: S,
    /// How many validators the plugin knows.
    validators: u16,
    /// The one it talks to.
    home: u16,
    tick_ms: u64,
    block_ms: u64,
    generation: u64,
    paused_until_ms: u64,
    last_heard_ms: u64,
    frames_malformed: u64,
    /// A price-driven plugin's participation (`None`: it takes part whenever it is online).
    participation: Option<Participation>,
    /// The person has the plugin running (between [`PluginEvent::Online`] and `Offline`).
    session_online: bool,
}

impl<R: PluginRuntime, S: Strategy> PluginHost<R, S> {
    /// The host of `client` over `runtime`, talking first to validator `home` of `validators`.
    pub fn new(client: PluginClient, runtime: R, strategy: S, validators: u16, home: u16) -> Self {
        assert!(validators > 0, "a plugin needs a validator");
        let tick_ms = client.config.tick_ms();
        let block_ms = client.config.block_ms.max(1);
        Self {
            client,
            runtime,
            strategy,
            validators,
            home: home % validators,
            tick_ms,
            block_ms,
            generation: 0,
            paused_until_ms: 0,
            last_heard_ms: 0,
            frames_malformed: 0,
            participation: None,
            session_online: false,
        }
    }

    /// Makes the plugin price-driven: while online, it takes part only when its
    /// [`Participation`] decides so (see [`crate::economics`]).
    pub fn with_participation(mut self, participation: Participation) -> Self {
        self.participation = Some(participation);
        self
    }

    /// Its participation, if price-driven.
    pub fn participation(&self) -> Option<&Participation> {
        self.participation.as_ref()
    }

    /// The client.
    pub fn client(&self) -> &PluginClient {
        &self.client
    }

    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// The runtime, to change: a runtime whose device is driven from outside the host (the
    /// browser's, which proves when its worker is free) takes its orders and hands back proofs.
    pub fn runtime_mut(&mut self) -> &mut R {
        &mut self.runtime
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// The validator the plugin talks to now.
    pub fn home(&self) -> u16 {
        self.home
    }

    /// Frames from validators that did not decode.
    pub fn frames_malformed(&self) -> u64 {
        self.frames_malformed
    }

    fn view(&self, now_ms: u64) -> PluginView {
        PluginView {
            now_ms,
            head_estimate: self.client.head() + now_ms.saturating_sub(self.last_heard_ms) / self.block_ms,
            active_plugins: self.client.active_plugins(),
            online: self.client.is_online(),
        }
    }

    /// Handles one event and carries out what the client asks.
    pub fn handle(&mut self, event: PluginEvent) {
        let now_ms = self.runtime.now_ms();
        let actions = match event {
            PluginEvent::Online => {
                self.generation += 1;
                self.session_online = true;
                self.runtime.set_timer(self.tick_ms, PluginTimer::Tick { generation: self.generation });
                self.last_heard_ms = now_ms;
                if self.participation.is_some() {
                    // Price-driven: ask what taking part pays; join when the rule says so.
                    self.ask_quote();
                    return;
                }
                self.client.handle(now_ms, Event::Online)
            }
            PluginEvent::Offline => {
                self.generation += 1;
                self.session_online = false;
                if let Some(participation) = &mut self.participation {
                    participation.session_ended();
                }
                self.strategy.offline();
                self.runtime.abandon_proofs();
                self.client.handle(now_ms, Event::Offline)
            }
            PluginEvent::Pause { for_ms } => {
                self.paused_until_ms = now_ms.saturating_add(for_ms);
                return;
            }
            PluginEvent::Frame(frame) => {
                let message = match decode::<ClientMessage>(&frame) {
                    Ok(message) => message,
                    Err(error) => {
                        self.frames_malformed += 1;
                        self.runtime.frame_refused(&error);
                        return;
                    }
                };
                self.last_heard_ms = now_ms;
                if let Some(participation) = &mut self.participation {
                    match &message {
                        // A reply that outlived its session (the plugin went offline since)
                        // must not decide: the next session asks again.
                        ClientMessage::Quote(_) if !self.session_online => return,
                        ClientMessage::Quote(quote) => {
                            let held = self.client.held().count();
                            match participation.on_quote(quote, held) {
                                Some(Change::Join) => self.join(now_ms),
                                Some(Change::Leave) => self.leave(now_ms),
                                None => {}
                            }
                            return;
                        }
                        ClientMessage::Account { address, market_balance: Some(balance), .. }
                            if *address == self.client.address() =>
                        {
                            participation.observe_balance(balance.wei());
                        }
                        _ => {}
                    }
                }
                let mut actions = Vec::new();
                if self.client.is_online()
                    && let Some(call) = self.strategy.observed(&self.view(now_ms), &message)
                {
                    actions = self.client.handle(now_ms, Event::SendCall(call));
                }
                actions.extend(self.client.handle(now_ms, Event::Message(message)));
                actions
            }
            PluginEvent::Timer(PluginTimer::Decide { generation }) => {
                if generation == self.generation && self.session_online {
                    self.ask_quote();
                }
                return;
            }
            PluginEvent::Timer(PluginTimer::Tick { generation }) => {
                if generation != self.generation || !self.session_online {
                    return;
                }
                self.runtime.set_timer(self.tick_ms, PluginTimer::Tick { generation });
                let held = self.client.held().count();
                if self.participation.as_mut().is_some_and(|p| p.left_idle(held)) {
                    self.go_inactive(now_ms);
                    return;
                }
                if !self.client.is_online() {
                    return;
                }
                if now_ms < self.paused_until_ms {
                    return;
                }
                let mut actions = Vec::new();
                for (job, proof) in self.strategy.release(&self.view(now_ms)) {
                    actions.extend(self.client.handle(now_ms, Event::ProofReady { job, proof }));
                }
                actions.extend(self.client.handle(now_ms, Event::Tick));
                actions
            }
            PluginEvent::ProofDue(due) => {
                if !self.client.is_online() {
                    return;
                }
                let Some(assignment) = self.client.held().find(|a| a.job == due.job).cloned() else { return };
                let Some(proof) = self.runtime.take_proof(&assignment, &due) else { return };
                match self.strategy.finished(&self.view(now_ms), &assignment, proof) {
                    Some(proof) => {
                        if let Some(participation) = &mut self.participation {
                            participation.proof_submitted();
                        }
                        self.client.handle(now_ms, Event::ProofReady { job: due.job, proof })
                    }
                    None => Vec::new(),
                }
            }
        };
        self.execute(now_ms, actions);
    }

    /// Asks the current validator for a quote and the plugin's balance, and schedules the next
    /// decision.
    fn ask_quote(&mut self) {
        let Some(participation) = &self.participation else { return };
        let interval_ms =
            participation.economics().decision_interval_ms.max(crate::economics::DECISION_INTERVAL_MS_MIN);
        self.runtime.set_timer(interval_ms, PluginTimer::Decide { generation: self.generation });
        self.runtime.send(self.home, Bytes::from(encode(&ClientRequest::GetQuote)));
        let address = self.client.address();
        self.runtime.send(self.home, Bytes::from(encode(&ClientRequest::GetAccount { address })));
    }

    /// The rule says take part: the client goes online (registers or heartbeats).
    fn join(&mut self, now_ms: u64) {
        if !self.session_online || self.client.is_online() {
            return;
        }
        self.last_heard_ms = now_ms;
        let actions = self.client.handle(now_ms, Event::Online);
        self.execute(now_ms, actions);
    }

    /// The rule says stop: leave the market (`GoInactive`, abandoning what it still holds) and go
    /// offline, staying in the session to keep deciding.
    fn leave(&mut self, now_ms: u64) {
        if self.client.is_online() {
            self.go_inactive(now_ms);
        }
    }

    fn go_inactive(&mut self, now_ms: u64) {
        let actions = self.client.handle(now_ms, Event::SendCall(MarketCall::GoInactive));
        self.execute(now_ms, actions);
        debug_assert!(self.participation.as_ref().is_none_or(|p| p.stance() == Stance::Out));
        self.strategy.offline();
        self.runtime.abandon_proofs();
        let actions = self.client.handle(now_ms, Event::Offline);
        self.execute(now_ms, actions);
    }

    fn execute(&mut self, now_ms: u64, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(request) => self.runtime.send(self.home, Bytes::from(encode(&request))),
                Action::SwitchValidator => {
                    self.home = (self.home + 1) % self.validators;
                    self.last_heard_ms = now_ms;
                }
                Action::Prove { assignment, statement } => {
                    if now_ms < self.paused_until_ms || !self.strategy.proves(&self.view(now_ms), &assignment) {
                        continue;
                    }
                    self.runtime.start_proof(&assignment, statement);
                }
            }
        }
    }
}

/// The event loop: handles events until the stream ends (the runtime stopped the plugin).
pub async fn run<R: PluginRuntime, S: Strategy>(
    mut host: PluginHost<R, S>,
    mut inbox: impl Stream<Item = PluginEvent> + Unpin,
) {
    while let Some(event) = inbox.next().await {
        host.handle(event);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use alloy::primitives::U256;
    use zkcrowd_ledger::Digest;
    use zkcrowd_market::JobKind;
    use zkcrowd_protocol::ClientRequest;

    use super::*;
    use crate::{ChainCadence, ClientConfig, VALIDATOR_SILENT_MS};

    /// A runtime that records what the host asks of it; the clock is set by the test.
    #[derive(Default)]
    struct Recorder {
        now_ms: Rc<Cell<u64>>,
        timers: Vec<(u64, PluginTimer)>,
        sent: Vec<(u16, ClientRequest)>,
        started: Vec<JobId>,
        taken: Vec<JobId>,
        abandoned: u32,
        refused: u32,
    }

    impl PluginRuntime for Recorder {
        fn now_ms(&self) -> u64 {
            self.now_ms.get()
        }
        fn set_timer(&mut self, after_ms: u64, timer: PluginTimer) {
            self.timers.push((after_ms, timer));
        }
        fn send(&mut self, validator: u16, frame: Bytes) {
            // What the host sends must decode as a request: the codec round trip.
            let request = decode::<ClientRequest>(&frame).expect("the host sends decodable requests");
            self.sent.push((validator, request));
        }
        fn start_proof(&mut self, assignment: &Assignment, _statement: Statement) {
            self.started.push(assignment.job);
        }
        fn take_proof(&mut self, _assignment: &Assignment, due: &ProofDue) -> Option<ProofData> {
            self.taken.push(due.job);
            Some(ProofData::modeled_valid(&due.statement))
        }
        fn abandon_proofs(&mut self) {
            self.abandoned += 1;
        }
        fn frame_refused(&mut self, _error: &DecodeError) {
            self.refused += 1;
        }
    }

    /// Counts what it is asked, and keeps every finished proof (a withholder that never releases).
    #[derive(Default)]
    struct Keeper {
        kept: Vec<JobId>,
        offline: u32,
    }

    impl Strategy for Keeper {
        fn finished(&mut self, _view: &PluginView, assignment: &Assignment, _proof: ProofData) -> Option<ProofData> {
            self.kept.push(assignment.job);
            None
        }
        fn offline(&mut self) {
            self.offline += 1;
        }
    }

    fn config() -> ClientConfig {
        ClientConfig::for_chain(
            ChainCadence {
                chain_id: 1,
                block_ms: 2_000,
                heartbeat_window_blocks: 40,
                proof_deadline_blocks: 20,
                base_fee_wei: 1,
            },
            false,
        )
    }

    fn host<S: Strategy>(strategy: S, validators: u16, home: u16) -> (PluginHost<Recorder, S>, Rc<Cell<u64>>) {
        let clock = Rc::new(Cell::new(0));
        let runtime = Recorder { now_ms: clock.clone(), ..Recorder::default() };
        let client = PluginClient::new(zkcrowd_primitives::dev_signer(3), config());
        (PluginHost::new(client, runtime, strategy, validators, home), clock)
    }

    fn frame(message: &ClientMessage) -> PluginEvent {
        PluginEvent::Frame(Bytes::from(encode(message)))
    }

    fn assignment(job: JobId) -> Assignment {
        Assignment {
            job,
            kind: JobKind::Tx { block: 2, index: 0 },
            pre_root: Digest::default(),
            post_root: Digest::default(),
            commitment: Digest::default(),
            created_block: 2,
            deadline_block: 20,
            inputs: None,
            real_required: false,
            gas_used: 0,
        }
    }

    /// Online with a registered account and `jobs` assigned, at time 0.
    fn online_with<S: Strategy>(host: &mut PluginHost<Recorder, S>, jobs: &[JobId]) {
        let address = host.client().address();
        host.handle(PluginEvent::Online);
        let account = ClientMessage::Account {
            address,
            nonce: 0,
            balance: U256::ZERO,
            market_balance: Some(Default::default()),
            head: 1,
            base_fee_per_gas: 1,
        };
        host.handle(frame(&account));
        let jobs = jobs.iter().map(|&job| assignment(job)).collect();
        let message = ClientMessage::Assignments { plugin: address, jobs, complete: true, head: 3, active_plugins: 1 };
        host.handle(frame(&message));
    }

    /// Goal: each online session has its own ticks; a stale session's tick neither runs nor re-arms.
    #[test]
    fn ticks_belong_to_their_session() {
        let (mut host, _) = host(Honest, 4, 1);
        host.handle(PluginEvent::Online);
        host.handle(PluginEvent::Offline);
        host.handle(PluginEvent::Online);
        let tick_ms = config().tick_ms();
        let armed: Vec<_> = host.runtime().timers.clone();
        assert_eq!(
            armed,
            vec![(tick_ms, PluginTimer::Tick { generation: 1 }), (tick_ms, PluginTimer::Tick { generation: 3 })],
            "going offline ends a session too"
        );
        host.handle(PluginEvent::Timer(PluginTimer::Tick { generation: 1 }));
        assert_eq!(host.runtime().timers.len(), 2, "a stale tick does not re-arm");
        host.handle(PluginEvent::Timer(PluginTimer::Tick { generation: 3 }));
        assert_eq!(host.runtime().timers.len(), 3, "the live session's tick re-arms");
        assert_eq!(host.runtime().abandoned, 1, "going offline abandons the device's work");
    }

    /// Goal: requests go to the home validator, and to the next one once the client gives it up.
    #[test]
    fn routes_to_home_and_fails_over() {
        let (mut host, clock) = host(Honest, 4, 3);
        host.handle(PluginEvent::Online);
        assert!(!host.runtime().sent.is_empty());
        assert!(host.runtime().sent.iter().all(|(to, _)| *to == 3));
        // Silence: ticks until the client gives its validator up.
        let tick_ms = config().tick_ms();
        let sent_before = host.runtime().sent.len();
        let mut t = 0;
        while host.home() == 3 && t <= 2 * VALIDATOR_SILENT_MS {
            t += tick_ms;
            clock.set(t);
            host.handle(PluginEvent::Timer(PluginTimer::Tick { generation: 1 }));
        }
        assert_eq!(host.home(), 0, "the next validator, modulo the count");
        assert!(t >= VALIDATOR_SILENT_MS, "not before the silence limit");
        let after = &host.runtime().sent[sent_before..];
        let last_to_old = after.iter().rposition(|(to, _)| *to == 3);
        let first_to_new = after.iter().position(|(to, _)| *to == 0).expect("resynced with the new validator");
        assert!(last_to_old.is_none_or(|old| old < first_to_new));
    }

    /// Goal: a frame that does not decode is counted and reported, and changes nothing else.
    #[test]
    fn malformed_frames_are_counted() {
        let (mut host, _) = host(Honest, 4, 0);
        host.handle(PluginEvent::Online);
        let sent = host.runtime().sent.len();
        for bytes in [&b""[..], &[0xff; 3], &[1, 200, 7]] {
            host.handle(PluginEvent::Frame(Bytes::copy_from_slice(bytes)));
        }
        assert_eq!(host.frames_malformed(), 3);
        assert_eq!(host.runtime().refused, 3);
        assert_eq!(host.runtime().sent.len(), sent);
    }

    /// Goal: a job is proven on the device, and its proof taken and submitted only while it is
    /// held; the strategy decides when (here: never).
    #[test]
    fn proofs_taken_only_for_held_jobs() {
        let (mut host, _) = host(Honest, 4, 0);
        online_with(&mut host, &[9]);
        assert_eq!(host.runtime().started, vec![9]);
        let statement = |job| assignment(job).statement(host_address());
        host.handle(PluginEvent::ProofDue(ProofDue { job: 5, statement: statement(5), proving_ms: 10 }));
        assert!(host.runtime().taken.is_empty(), "job 5 is not held: its proof is not even made");
        let sent = host.runtime().sent.len();
        host.handle(PluginEvent::ProofDue(ProofDue { job: 9, statement: statement(9), proving_ms: 10 }));
        assert_eq!(host.runtime().taken, vec![9]);
        assert!(host.runtime().sent.len() > sent, "the honest strategy submits at once");

        let (mut keeper, _) = self::host(Keeper::default(), 4, 0);
        online_with(&mut keeper, &[9]);
        let sent = keeper.runtime().sent.len();
        keeper.handle(PluginEvent::ProofDue(ProofDue { job: 9, statement: statement(9), proving_ms: 10 }));
        assert_eq!(keeper.strategy().kept, vec![9]);
        assert_eq!(keeper.runtime().sent.len(), sent, "a kept proof is not submitted");
        keeper.handle(PluginEvent::Offline);
        assert_eq!(keeper.strategy().offline, 1);
        keeper.handle(PluginEvent::ProofDue(ProofDue { job: 9, statement: statement(9), proving_ms: 10 }));
        assert_eq!(keeper.runtime().taken, vec![9], "offline: nothing is taken");
    }

    /// Goal: a paused plugin starts no proof and sends no heartbeat until the pause ends.
    #[test]
    fn paused_plugin_neither_proves_nor_beats() {
        let (mut host, clock) = host(Honest, 4, 0);
        host.handle(PluginEvent::Pause { for_ms: 1_000_000 });
        online_with(&mut host, &[9]);
        assert!(host.runtime().started.is_empty(), "no proof while paused");
        let sent = host.runtime().sent.len();
        clock.set(500_000);
        host.handle(PluginEvent::Timer(PluginTimer::Tick { generation: 1 }));
        assert_eq!(host.runtime().sent.len(), sent, "no tick's work while paused");
        clock.set(1_000_000);
        host.handle(PluginEvent::Timer(PluginTimer::Tick { generation: 1 }));
        assert!(host.runtime().sent.len() > sent, "the pause is over");
    }

    fn host_address() -> alloy::primitives::Address {
        zkcrowd_primitives::dev_signer(3).address()
    }

    /// Goal: a price-driven host joins when a quote pays its cost, and a quote answered after the
    /// session ended does not decide (else the next session would believe it takes part while
    /// its client stays offline).
    #[test]
    fn price_driven_host_joins_and_ignores_stale_quotes() {
        use crate::economics::{DecisionRule, Economics, Participation, Stance};
        use zkcrowd_market::MarketQuote;
        let economics = Economics {
            cost_zkpow_per_s: 1.0,
            job_reference_s: 1.0,
            rule: DecisionRule::Threshold { margin: 0.0 },
            decision_interval_ms: 60_000,
        };
        let (host, _clock) = host(Honest, 1, 0);
        let mut host = host.with_participation(Participation::new(economics));
        let paying = |wei: u128| {
            frame(&ClientMessage::Quote(MarketQuote {
                block: 1,
                active_plugins: 1,
                open_jobs: 0,
                jobs_created: 0,
                bounty_base_wei: wei,
                bounty_fresh_wei: wei,
                bounty_open_mean_wei: None,
            }))
        };
        let wei = zkcrowd_primitives::WEI_PER_ZKPOW;
        host.handle(PluginEvent::Online);
        assert!(!host.client().is_online(), "price-driven: out until a quote says otherwise");
        assert!(host.runtime().sent.iter().any(|(_, r)| matches!(r, ClientRequest::GetQuote)));
        host.handle(paying(2 * wei));
        assert!(host.client().is_online(), "a bounty of 2 covers a cost of 1");
        host.handle(PluginEvent::Offline);
        host.handle(paying(2 * wei));
        assert_eq!(host.participation().unwrap().stance(), Stance::Out, "a stale quote decided");
        host.handle(PluginEvent::Online);
        host.handle(paying(2 * wei));
        assert!(host.client().is_online(), "the next session joins again");
        host.handle(paying(0));
        assert!(!host.client().is_online(), "idle and unpaid: it leaves");
    }
}
