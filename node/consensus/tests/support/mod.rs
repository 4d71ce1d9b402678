//! A deterministic in-test network for [`Consensus`] machines: a discrete-event queue of message
//! deliveries, timer expiries, built blocks and height starts, ordered by (simulated time, sequence
//! number), with every random choice drawn from one seeded splitmix64 generator.
//!
//! 1. Each honest validator runs a [`Consensus`]; an optional observer (`me = None`) listens too.
//!    Crashed validators never send or receive. Byzantine validators run no machine: whenever they
//!    receive a message they either agree with its sender (vote its value back to it alone) or
//!    send random, conflicting proposals and votes for that height to each honest node separately.
//! 2. A broadcast becomes one delivery per other node, each lost with `loss_percent` and delayed
//!    by 1..=`latency_ms_max` ms, so messages reorder freely. A partition drops messages between
//!    groups.
//! 3. Timers fire after the requested delay, or with `timeout_jitter` at any time between 0 and
//!    twice that; with `spurious_timeout_interval_ms` unrequested timeouts also fire at random
//!    nodes, on average that often.
//! 4. The host builds blocks with random hashes that every node judges valid; other hashes are
//!    judged valid or not by one deterministic verdict function shared by all nodes.
//! 5. With `gossip_interval_ms`, each honest node periodically re-sends everything it sent or
//!    received at its current and previous height (the latter so nodes still there can decide on
//!    the same certificate): the host's gossip that Tendermint's liveness assumes (what one correct
//!    node received, all eventually receive). Relayed messages keep their original sender, as
//!    signed messages would.
//! 6. With `sync_after_ms`, a node stuck that long at a height some other node decided imports the
//!    decided blocks (block sync, the host's job) and starts the next height. A node whose first
//!    view of an equivocator's vote differs from the one others counted may otherwise never complete
//!    the certificate once the rest have moved on.
//! 7. Every decision is checked at once: the certificate is a quorum, the value valid, and no
//!    other node decided another value at that height (a panic, with the seed, otherwise). Every
//!    honest validator's broadcast is checked too: it is in the validator's log before it leaves
//!    (with its lock, for a precommit), and never differs from an earlier message of the same type
//!    and round, across restarts included. [`Config::record_violations`] records instead of
//!    panicking, to show what goes wrong without the log.
//! 8. Each honest validator has a disk that survives crashes: its write-ahead log (every
//!    [`Output::Persist`] appended in order, older heights pruned when a height starts) and its
//!    decided height (the committed chain). [`Network::crash`] stops a validator: pending timers,
//!    builds and height starts die with it, as do its received messages and gossip log; messages
//!    reaching it while it is down are lost. [`Network::restart`] brings it back: with a fresh
//!    machine at its next uncommitted height ([`Restart::Amnesia`], what a host without a log can
//!    do; [`Restart::AmnesiaVoteGuard`] adds the old validator host's guard against re-voting in a
//!    slot), or with [`Consensus::recover`] from its log ([`Restart::Wal`]), its host then
//!    gossiping again the messages the log names (its own, and the polkas' prevotes).

#![allow(dead_code, unreachable_pub, missing_docs, reason = "test support shared by several test files")]

#[allow(
    clippy::disallowed_types,
    reason = "test harness bookkeeping (was this message logged/answered), only looked up"
)]
use std::collections::HashSet;
use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, B256};
use zkcrowd_consensus::{
    Consensus, Height, Input, Message, MessageKind, Output, Round, Status, Step, Timeout, TimeoutParams,
    ValidatorIndex, ValidatorSet, WalEntry,
};

/// splitmix64: small, fast and fully determined by its seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform-ish in `0..n` (`n = 0` gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// In `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high);
        low + self.below(high - low + 1)
    }

    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn b256(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        B256::from(bytes)
    }
}

/// The splitmix64 finaliser: a bijective mix of 64 bits.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn validator_address(index: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xc0;
    bytes[12..].copy_from_slice(&(index as u64).to_be_bytes());
    Address::from(bytes)
}

pub fn validator_set(stakes: &[u64]) -> ValidatorSet {
    ValidatorSet::new(stakes.iter().enumerate().map(|(index, stake)| (validator_address(index), *stake)).collect())
        .expect("test stakes are positive and addresses distinct")
}

/// A network's faults and shape. Every field is printed on failure (it is the reproduction recipe).
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub stakes: Vec<u64>,
    pub latency_ms_max: u64,
    pub loss_percent: u64,
    pub timeout_jitter: bool,
    /// Mean time between timeouts nobody scheduled, fired at a random honest validator.
    pub spurious_timeout_interval_ms: Option<u64>,
    /// Share of hashes that every node judges invalid (honest builders never produce them).
    pub invalid_percent: u64,
    pub crashed: BTreeSet<ValidatorIndex>,
    pub byzantine: BTreeSet<ValidatorIndex>,
    pub observer: bool,
    pub gossip_interval_ms: Option<u64>,
    pub sync_after_ms: Option<u64>,
    /// Hash every output into [`Network::digest`] (costly: it formats each output).
    pub record_digest: bool,
    /// Record safety violations (two decisions at one height, two different messages of one slot
    /// from an honest validator) in [`Network::violations`] instead of panicking: only to show that
    /// restarts without a log break safety.
    pub record_violations: bool,
    pub timeouts: TimeoutParams,
}

impl Config {
    /// Honest validators on a lossless network with up to 50 ms latency.
    pub fn honest(stakes: Vec<u64>, seed: u64) -> Self {
        Self {
            seed,
            stakes,
            latency_ms_max: 50,
            loss_percent: 0,
            timeout_jitter: false,
            spurious_timeout_interval_ms: None,
            invalid_percent: 0,
            crashed: BTreeSet::new(),
            byzantine: BTreeSet::new(),
            observer: false,
            gossip_interval_ms: None,
            sync_after_ms: None,
            record_digest: false,
            record_violations: false,
            timeouts: TimeoutParams::default(),
        }
    }
}

enum Role {
    Honest(Box<Consensus>),
    Crashed,
    Byzantine,
}

/// How [`Network::restart`] brings a crashed validator back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// A fresh machine at the height after its committed chain: it forgets its lock and the votes
    /// it sent (what `Node::restart` did before the write-ahead log).
    Amnesia,
    /// [`Restart::Amnesia`] behind the validator host's old guard (`votes_sent`, kept on disk): a
    /// vote that differs from one sent in the same (height, round, type) before the crash is
    /// withheld, though the fresh machine counts it as sent.
    AmnesiaVoteGuard,
    /// [`Consensus::recover`] from its write-ahead log, then the next height if the log's height
    /// was committed.
    Wal,
}

/// A broken safety property, recorded with [`Config::record_violations`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two honest nodes decided different values at one height.
    Fork { height: Height, first: B256, second: B256, node: usize },
    /// An honest validator sent two different messages of one type in one round.
    Equivocation { node: usize, first: Message, second: Message },
}

/// Events that belong to one life of a node carry its incarnation: a crash ends it, and the
/// events of an earlier life (timers, builds, height starts, gossip rounds) are dropped.
#[derive(Clone, Debug)]
enum Event {
    Deliver { to: usize, from: ValidatorIndex, message: Message },
    Timeout { node: usize, incarnation: u32, timeout: Timeout },
    Built { node: usize, incarnation: u32, height: Height, round: Round, value: B256 },
    Start { node: usize, incarnation: u32, height: Height },
    Gossip { node: usize, incarnation: u32 },
    SpuriousTimeout,
}

/// One node's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub node: usize,
    pub height: Height,
    pub round: Round,
    pub value: B256,
    pub time_ms: u64,
}

#[allow(
    clippy::disallowed_types,
    reason = "test harness bookkeeping (was this message logged/answered), only looked up"
)]
pub struct Network {
    pub config: Config,
    pub validators: ValidatorSet,
    rng: SplitMix64,
    pub now_ms: u64,
    sequence: u64,
    events: BTreeMap<(u64, u64), Event>,
    /// Validators `0..n`, then the observer if configured.
    nodes: Vec<Role>,
    pub decisions: Vec<Decision>,
    decided: BTreeMap<Height, B256>,
    /// Per node: the highest height decided or imported by sync.
    last_decided: Vec<Height>,
    /// Per node: when it started its current height.
    height_started_ms: Vec<u64>,
    /// Heights imported by sync, over all nodes.
    pub synced_heights: u64,
    /// Built value → (builder, height, round).
    pub builders: BTreeMap<B256, (ValidatorIndex, Height, Round)>,
    /// Group of each node while partitioned.
    partition: Option<Vec<u8>>,
    /// Per node and height, its own and received messages in arrival order, for gossip.
    gossip_log: Vec<BTreeMap<Height, Vec<(ValidatorIndex, Message)>>>,
    gossip_logged: HashSet<(usize, ValidatorIndex, Message)>,
    /// Messages each Byzantine node already answered (it answers each once).
    byzantine_answered: HashSet<(usize, ValidatorIndex, Message)>,
    /// Values Byzantine nodes have seen, to equivocate with.
    byzantine_values: Vec<B256>,
    /// FNV-1a over every output (with `record_digest`), to compare runs.
    pub digest: u64,
    pub events_processed: u64,
    /// Per node: its write-ahead log, on disk (survives crashes).
    pub wal: Vec<Vec<WalEntry>>,
    /// Per node: every entry it ever logged, unpruned (for tests of recovery from any prefix).
    pub wal_history: Vec<Vec<WalEntry>>,
    /// Per node: its life count, bumped by each crash.
    incarnation: Vec<u32>,
    /// Validators crashed by [`Network::crash`] and not yet restarted.
    pub down: BTreeSet<usize>,
    /// Every honest validator's first message per (node, height, round, type), across restarts.
    sent_slots: BTreeMap<(usize, Height, Round, MessageKind), Message>,
    /// With [`Config::record_violations`]: what would otherwise have panicked.
    pub violations: Vec<Violation>,
    /// Validators restarted with [`Restart::AmnesiaVoteGuard`], and the votes their guard withheld.
    vote_guard: BTreeSet<usize>,
    pub votes_withheld: u64,
    pub restarts: u64,
}

const BYZANTINE_VALUES_MAX: usize = 16;

impl Network {
    #[allow(
        clippy::disallowed_types,
        reason = "test harness bookkeeping (was this message logged/answered), only looked up"
    )]
    pub fn new(config: Config) -> Self {
        let validators = validator_set(&config.stakes);
        let mut nodes = Vec::new();
        for index in 0..validators.len() {
            let index = ValidatorIndex::try_from(index).expect("test sets are small");
            let role = if config.crashed.contains(&index) {
                Role::Crashed
            } else if config.byzantine.contains(&index) {
                Role::Byzantine
            } else {
                Role::Honest(Box::new(Consensus::new(validators.clone(), Some(index), config.timeouts.clone())))
            };
            nodes.push(role);
        }
        if config.observer {
            nodes.push(Role::Honest(Box::new(Consensus::new(validators.clone(), None, config.timeouts.clone()))));
        }
        let node_count = nodes.len();
        let mut network = Self {
            rng: SplitMix64::new(config.seed),
            config,
            validators,
            now_ms: 0,
            sequence: 0,
            events: BTreeMap::new(),
            nodes,
            decisions: Vec::new(),
            decided: BTreeMap::new(),
            last_decided: vec![0; node_count],
            height_started_ms: vec![0; node_count],
            synced_heights: 0,
            builders: BTreeMap::new(),
            partition: None,
            gossip_log: vec![BTreeMap::new(); node_count],
            gossip_logged: HashSet::new(),
            byzantine_answered: HashSet::new(),
            byzantine_values: Vec::new(),
            digest: 0xcbf2_9ce4_8422_2325,
            events_processed: 0,
            wal: vec![Vec::new(); node_count],
            wal_history: vec![Vec::new(); node_count],
            incarnation: vec![0; node_count],
            down: BTreeSet::new(),
            sent_slots: BTreeMap::new(),
            violations: Vec::new(),
            vote_guard: BTreeSet::new(),
            votes_withheld: 0,
            restarts: 0,
        };
        for node in network.honest_nodes() {
            let at = network.rng.between(0, 10);
            network.push(at, Event::Start { node, incarnation: 0, height: 1 });
            if let Some(interval_ms) = network.config.gossip_interval_ms {
                let at = network.rng.between(1, interval_ms);
                network.push(at, Event::Gossip { node, incarnation: 0 });
            }
        }
        if let Some(interval_ms) = network.config.spurious_timeout_interval_ms {
            let at = network.rng.between(0, 2 * interval_ms);
            network.push(at, Event::SpuriousTimeout);
        }
        network
    }

    /// Nodes running a machine: honest validators and the observer.
    pub fn honest_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|node| matches!(self.nodes[*node], Role::Honest(_))).collect()
    }

    /// Honest validators (not the observer).
    pub fn honest_validators(&self) -> Vec<usize> {
        self.honest_nodes().into_iter().filter(|node| *node < self.validators.len()).collect()
    }

    pub fn machine(&self, node: usize) -> Option<&Consensus> {
        match &self.nodes[node] {
            Role::Honest(machine) => Some(machine),
            Role::Crashed | Role::Byzantine => None,
        }
    }

    /// One line per node: its role and, if running, height, round, step, status and lock; for
    /// failure messages.
    pub fn describe(&self) -> String {
        let mut lines = Vec::new();
        for node in 0..self.nodes.len() {
            let line = match &self.nodes[node] {
                Role::Honest(machine) => format!(
                    "node {node}: height {} round {} step {:?} {:?} locked {:?} valid {:?}, decided {}",
                    machine.height(),
                    machine.round(),
                    machine.step(),
                    machine.status(),
                    machine.locked(),
                    machine.valid(),
                    self.last_decided[node]
                ),
                Role::Crashed => format!("node {node}: crashed, decided {}", self.last_decided[node]),
                Role::Byzantine => format!("node {node}: Byzantine"),
            };
            lines.push(line);
        }
        lines.join("\n")
    }

    /// The highest height `node` decided or imported by sync (0 if none).
    pub fn decided_height(&self, node: usize) -> Height {
        self.last_decided[node]
    }

    /// The lowest height decided by every node in `nodes`.
    pub fn min_decided_height(&self, nodes: &[usize]) -> Height {
        nodes.iter().map(|node| self.last_decided[*node]).min().unwrap_or(0)
    }

    /// The value decided at `height`, if any node decided it.
    pub fn decided_value(&self, height: Height) -> Option<B256> {
        self.decided.get(&height).copied()
    }

    /// Whether every honest node judges `value` valid: one verdict per value, shared by all.
    pub fn is_valid(&self, value: B256) -> bool {
        let word = u64::from_le_bytes(value.0[..8].try_into().expect("8 bytes"));
        mix(word ^ mix(self.config.seed ^ 0x7a11_d17e)) % 100 >= self.config.invalid_percent
    }

    /// Drops every message between nodes of different groups (one group per node, observer
    /// included) until [`Network::heal`].
    pub fn partition(&mut self, groups: Vec<u8>) {
        assert_eq!(groups.len(), self.nodes.len());
        self.partition = Some(groups);
    }

    pub fn heal(&mut self) {
        self.partition = None;
    }

    /// Processes events up to `until_ms` of simulated time, stopping early when `done` holds.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, until_ms: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let Some(entry) = self.events.first_entry() else {
                break;
            };
            if entry.key().0 > until_ms {
                break;
            }
            let ((time_ms, _), event) = entry.remove_entry();
            assert!(time_ms >= self.now_ms, "time never goes back");
            self.now_ms = time_ms;
            self.process(event);
        }
        self.now_ms = self.now_ms.max(until_ms);
        done(self)
    }

    fn push(&mut self, at_ms: u64, event: Event) {
        self.events.insert((at_ms, self.sequence), event);
        self.sequence += 1;
    }

    fn process(&mut self, event: Event) {
        self.events_processed += 1;
        match event {
            Event::Deliver { to, from, message } => {
                if self.partitioned(usize::from(from), to) {
                    return;
                }
                match &self.nodes[to] {
                    Role::Honest(_) => {
                        self.log_for_gossip(to, from, &message);
                        let proposal_valid = match &message {
                            Message::Proposal { value, .. } => Some(self.is_valid(*value)),
                            Message::Prevote { .. } | Message::Precommit { .. } => None,
                        };
                        self.input(to, Input::Message { from, message, proposal_valid });
                    }
                    Role::Byzantine => self.byzantine_react(to, from, &message),
                    Role::Crashed => {}
                }
            }
            Event::Timeout { node, incarnation, timeout } => {
                if self.alive(node, incarnation) {
                    self.input(node, Input::Timeout(timeout));
                }
            }
            Event::Built { node, incarnation, height, round, value } => {
                if self.alive(node, incarnation) {
                    self.input(node, Input::ProposalBuilt { height, round, value });
                }
            }
            Event::Start { node, incarnation, height } => {
                // A start for a height this node already passed by sync is stale.
                if self.alive(node, incarnation) && self.machine(node).is_some_and(|machine| machine.height() < height)
                {
                    self.height_started_ms[node] = self.now_ms;
                    self.input(node, Input::StartHeight(height));
                }
            }
            Event::Gossip { node, incarnation } => {
                if self.alive(node, incarnation) {
                    self.gossip(node);
                }
            }
            Event::SpuriousTimeout => self.spurious_timeout(),
        }
    }

    /// Whether an event of `node`'s life `incarnation` still applies: that life has not crashed.
    fn alive(&self, node: usize, incarnation: u32) -> bool {
        incarnation == self.incarnation[node]
    }

    /// Crashes honest validator `node`: it stops at once, and everything but its disk (write-ahead
    /// log, committed height) is lost, pending timers and builds included.
    pub fn crash(&mut self, node: usize) {
        assert!(node < self.validators.len(), "only validators crash");
        assert!(matches!(self.nodes[node], Role::Honest(_)), "node {node} is not running");
        self.nodes[node] = Role::Crashed;
        self.incarnation[node] += 1;
        self.down.insert(node);
        self.gossip_log[node].clear();
        // Membership only: the set's iteration order never matters.
        self.gossip_logged.retain(|(logged_node, _, _)| *logged_node != node);
    }

    /// Restarts validator `node`, crashed by [`Network::crash`], in the given mode.
    pub fn restart(&mut self, node: usize, mode: Restart) {
        assert!(self.down.remove(&node), "node {node} was not crashed by Network::crash");
        let me = ValidatorIndex::try_from(node).expect("validators have small indices");
        let timeouts = self.config.timeouts.clone();
        let (machine, outputs) = match mode {
            Restart::Amnesia | Restart::AmnesiaVoteGuard => {
                (Consensus::new(self.validators.clone(), Some(me), timeouts), Vec::new())
            }
            Restart::Wal => {
                let recovered = Consensus::recover(self.validators.clone(), me, timeouts, &self.wal[node]);
                recovered.unwrap_or_else(|error| {
                    panic!("node {node}'s own log does not recover: {error}; {:?}", self.config)
                })
            }
        };
        self.nodes[node] = Role::Honest(Box::new(machine));
        self.restarts += 1;
        if mode == Restart::AmnesiaVoteGuard {
            self.vote_guard.insert(node);
        }
        if mode == Restart::Wal {
            // The host kept the messages its log names (signed copies, in a real host): its own,
            // and the prevotes of the polkas behind its lock and valid value. It gossips them again.
            let log = self.wal[node].clone();
            for entry in &log {
                match entry {
                    WalEntry::Sent(message) => self.log_for_gossip(node, me, message),
                    WalEntry::Lock { height, round, value, polka }
                    | WalEntry::Valid { height, round, value, polka } => {
                        let prevote = Message::Prevote { height: *height, round: *round, value: Some(*value) };
                        for voter in polka {
                            self.log_for_gossip(node, *voter, &prevote);
                        }
                    }
                    WalEntry::StartHeight(_) | WalEntry::StartRound { .. } => {}
                }
            }
        }
        self.height_started_ms[node] = self.now_ms;
        for output in outputs {
            self.execute(node, output);
        }
        // The committed chain decides where to resume when the log is behind it (or, without a
        // log, always).
        let next = self.last_decided[node] + 1;
        if self.machine(node).is_some_and(|machine| machine.height() < next) {
            self.input(node, Input::StartHeight(next));
        }
        if let Some(interval_ms) = self.config.gossip_interval_ms {
            let at = self.now_ms + self.rng.between(1, interval_ms);
            let incarnation = self.incarnation[node];
            self.push(at, Event::Gossip { node, incarnation });
        }
    }

    fn input(&mut self, node: usize, input: Input) {
        let Role::Honest(machine) = &mut self.nodes[node] else {
            panic!("input for node {node}, which runs no machine");
        };
        let outputs = machine.handle(input);
        for output in outputs {
            self.execute(node, output);
        }
    }

    fn execute(&mut self, node: usize, output: Output) {
        if self.config.record_digest {
            for byte in format!("{}:{node}:{output:?}", self.now_ms).bytes() {
                self.digest = (self.digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        match output {
            // Equivocations are counted by the machines themselves; the network checks safety.
            Output::Evidence(_) => {}
            Output::Persist(entry) => {
                self.wal_history[node].push(entry.clone());
                let log = &mut self.wal[node];
                if let WalEntry::StartHeight(height) = entry {
                    // Lower heights are committed: their entries are obsolete.
                    log.retain(|logged| logged.height() >= height);
                }
                log.push(entry);
            }
            Output::Broadcast(message) => {
                let from = ValidatorIndex::try_from(node).expect("only validators broadcast");
                if self.vote_guard.contains(&node) && self.contradicts_a_vote(node, &message) {
                    self.votes_withheld += 1;
                    return;
                }
                self.check_broadcast(node, &message);
                self.log_for_gossip(node, from, &message);
                for to in 0..self.nodes.len() {
                    if to != node {
                        self.send(from, to, message.clone());
                    }
                }
            }
            Output::BuildProposal { height, round } => {
                let builder = ValidatorIndex::try_from(node).expect("only validators build");
                let value = self.build_value();
                self.builders.insert(value, (builder, height, round));
                let at = self.now_ms + self.rng.between(1, 20);
                let incarnation = self.incarnation[node];
                self.push(at, Event::Built { node, incarnation, height, round, value });
            }
            Output::ScheduleTimeout { timeout, after_ms } => {
                let delay_ms = if self.config.timeout_jitter { self.rng.between(0, 2 * after_ms) } else { after_ms };
                let incarnation = self.incarnation[node];
                self.push(self.now_ms + delay_ms, Event::Timeout { node, incarnation, timeout });
            }
            Output::Decide { height, round, value, certificate } => {
                self.check_decision(node, height, round, value, &certificate);
                let at = self.now_ms + self.rng.between(1, 10);
                let incarnation = self.incarnation[node];
                self.push(at, Event::Start { node, incarnation, height: height + 1 });
            }
        }
    }

    /// Whether `message` is a vote that differs from `node`'s earlier vote in its slot.
    fn contradicts_a_vote(&self, node: usize, message: &Message) -> bool {
        if matches!(message, Message::Proposal { .. }) {
            return false;
        }
        let slot = (node, message.height(), message.round(), message.kind());
        self.sent_slots.get(&slot).is_some_and(|first| first != message)
    }

    /// An honest validator never sends two different messages of one type in one round, restarts
    /// included (re-sending the same one is fine).
    fn check_broadcast(&mut self, node: usize, message: &Message) {
        // The write-ahead rule: the log holds the message, and a precommit's lock, before it leaves.
        let log = &self.wal[node];
        assert!(log.contains(&WalEntry::Sent(message.clone())), "node {node} sent {message:?} before logging it");
        if let Message::Precommit { height, round, value: Some(value) } = message {
            let locked = log.iter().any(|entry| {
                matches!(entry, WalEntry::Lock { height: h, round: r, value: v, .. } if (h, r, v) == (height, round, value))
            });
            assert!(locked, "node {node} precommitted {value} before logging its lock");
        }
        let slot = (node, message.height(), message.round(), message.kind());
        let first = self.sent_slots.entry(slot).or_insert_with(|| message.clone()).clone();
        if first == *message {
            return;
        }
        if self.config.record_violations {
            self.violations.push(Violation::Equivocation { node, first, second: message.clone() });
            return;
        }
        panic!("EQUIVOCATION by honest node {node}: sent {first:?}, then {message:?}; {:?}", self.config);
    }

    /// An honest builder's block: a fresh hash that every node judges valid.
    fn build_value(&mut self) -> B256 {
        for _ in 0..1000 {
            let value = self.rng.b256();
            if self.is_valid(value) && !self.builders.contains_key(&value) {
                return value;
            }
        }
        panic!("no valid value in 1000 draws: invalid_percent {} is too high", self.config.invalid_percent);
    }

    fn check_decision(
        &mut self,
        node: usize,
        height: Height,
        round: Round,
        value: B256,
        certificate: &[ValidatorIndex],
    ) {
        let config = &self.config;
        let stake: u64 = certificate.iter().map(|validator| self.validators.stake(*validator)).sum();
        assert!(self.validators.is_quorum(stake), "certificate {certificate:?} is not a quorum; {config:?}");
        assert!(certificate.windows(2).all(|pair| pair[0] < pair[1]), "certificate not ascending: {certificate:?}");
        assert!(self.is_valid(value), "node {node} decided invalid value {value} at height {height}; {config:?}");
        assert!(
            height > self.last_decided[node],
            "node {node} decided height {height} after height {}; {config:?}",
            self.last_decided[node]
        );
        let first = *self.decided.entry(height).or_insert(value);
        if first != value && self.config.record_violations {
            self.violations.push(Violation::Fork { height, first, second: value, node });
        } else {
            assert_eq!(
                first, value,
                "SAFETY VIOLATION: node {node} decided {value} at height {height} (round {round}), another node decided {first}; {config:?}"
            );
        }
        self.last_decided[node] = height;
        self.decisions.push(Decision { node, height, round, value, time_ms: self.now_ms });
    }

    fn send(&mut self, from: ValidatorIndex, to: usize, message: Message) {
        if matches!(self.nodes[to], Role::Crashed) || self.rng.percent(self.config.loss_percent) {
            return;
        }
        let at = self.now_ms + self.rng.between(1, self.config.latency_ms_max);
        self.push(at, Event::Deliver { to, from, message });
    }

    fn partitioned(&self, from: usize, to: usize) -> bool {
        self.partition.as_ref().is_some_and(|groups| groups[from] != groups[to])
    }

    fn log_for_gossip(&mut self, node: usize, from: ValidatorIndex, message: &Message) {
        if self.config.gossip_interval_ms.is_none() {
            return;
        }
        // Membership only: the set's iteration order never matters.
        if self.gossip_logged.insert((node, from, message.clone())) {
            self.gossip_log[node].entry(message.height()).or_default().push((from, message.clone()));
        }
    }

    /// Re-sends everything `node` sent or received at its current and previous height, and
    /// schedules the next round of gossip.
    fn gossip(&mut self, node: usize) {
        self.sync(node);
        let Some(machine) = self.machine(node) else {
            return;
        };
        let height = machine.height();
        let log = &mut self.gossip_log[node];
        *log = log.split_off(&height.saturating_sub(1));
        let messages: Vec<(ValidatorIndex, Message)> = log.values().flatten().cloned().collect();
        for (from, message) in messages {
            for to in 0..self.nodes.len() {
                if to != node && to != usize::from(from) {
                    self.send(from, to, message.clone());
                }
            }
        }
        let interval_ms = self.config.gossip_interval_ms.expect("gossip events exist only with an interval");
        let at = self.now_ms + self.rng.between(interval_ms / 2, interval_ms);
        let incarnation = self.incarnation[node];
        self.push(at, Event::Gossip { node, incarnation });
    }

    /// Block sync: if `node` has been stuck for `sync_after_ms` at a height another node decided,
    /// it imports every consecutive decided block and starts the height after them.
    fn sync(&mut self, node: usize) {
        let Some(sync_after_ms) = self.config.sync_after_ms else {
            return;
        };
        let Some(machine) = self.machine(node) else {
            return;
        };
        let height = machine.height();
        if machine.status() != Status::Running || self.now_ms < self.height_started_ms[node] + sync_after_ms {
            return;
        }
        let mut last = height - 1;
        while self.decided.contains_key(&(last + 1)) {
            last += 1;
        }
        if last < height {
            return;
        }
        self.synced_heights += last - height + 1;
        self.last_decided[node] = last;
        self.height_started_ms[node] = self.now_ms;
        self.input(node, Input::StartHeight(last + 1));
    }

    /// A Byzantine node answers a message with random proposals and votes at its height, different
    /// for each honest node.
    fn byzantine_react(&mut self, node: usize, from: ValidatorIndex, message: &Message) {
        if self.config.byzantine.contains(&from) || !self.byzantine_answered.insert((node, from, message.clone())) {
            return;
        }
        if let Message::Proposal { value, .. } | Message::Prevote { value: Some(value), .. } = message {
            if self.byzantine_values.len() == BYZANTINE_VALUES_MAX {
                self.byzantine_values.remove(0);
            }
            self.byzantine_values.push(*value);
        }
        let me = ValidatorIndex::try_from(node).expect("Byzantine nodes are validators");
        let height = message.height();
        // Half the time, agree with the sender: prevote and precommit its value back to it alone.
        // Every honest node then sees the faulty stake on its own side, the split that quorums of
        // more than two thirds exist to survive.
        let echoed = match message {
            Message::Proposal { value, .. } => Some(Some(*value)),
            Message::Prevote { value, .. } | Message::Precommit { value, .. } => Some(*value),
        };
        if let Some(value) = echoed.filter(|_| self.rng.percent(50)) {
            let round = message.round();
            self.send(me, usize::from(from), Message::Prevote { height, round, value });
            self.send(me, usize::from(from), Message::Precommit { height, round, value });
            return;
        }
        for to in self.honest_nodes() {
            if !self.rng.percent(50) {
                continue;
            }
            let round = message.round() + u32::try_from(self.rng.below(2)).expect("0 or 1");
            let forged = match self.rng.below(3) {
                0 if self.validators.proposer(height, round) == me => {
                    let valid_round = if round > 0 && self.rng.percent(50) {
                        Some(u32::try_from(self.rng.below(u64::from(round))).expect("below a u32 round"))
                    } else {
                        None
                    };
                    Message::Proposal { height, round, value: self.byzantine_value(), valid_round }
                }
                0 | 1 => Message::Prevote { height, round, value: self.byzantine_vote() },
                _ => Message::Precommit { height, round, value: self.byzantine_vote() },
            };
            self.send(me, to, forged);
        }
    }

    fn byzantine_value(&mut self) -> B256 {
        if self.byzantine_values.is_empty() || self.rng.percent(25) {
            return self.rng.b256();
        }
        let index = self.rng.below(self.byzantine_values.len() as u64) as usize;
        self.byzantine_values[index]
    }

    fn byzantine_vote(&mut self) -> Option<B256> {
        if self.rng.percent(30) { None } else { Some(self.byzantine_value()) }
    }

    /// Fires a timeout nobody asked for at a random honest validator's current height and round,
    /// and schedules the next one.
    fn spurious_timeout(&mut self) {
        let interval_ms = self.config.spurious_timeout_interval_ms.expect("scheduled only with an interval");
        let at = self.now_ms + self.rng.between(0, 2 * interval_ms);
        self.push(at, Event::SpuriousTimeout);
        let validators = self.honest_validators();
        if validators.is_empty() {
            return;
        }
        let node = validators[self.rng.below(validators.len() as u64) as usize];
        let machine = self.machine(node).expect("an honest validator");
        if machine.status() != Status::Running {
            return;
        }
        let (height, round) = (machine.height(), machine.round());
        let step = match self.rng.below(3) {
            0 => Step::Propose,
            1 => Step::Prevote,
            _ => Step::Precommit,
        };
        self.input(node, Input::Timeout(Timeout { height, round, step }));
    }
}

/// Checks a machine recovered from `log` (with the outputs of recovery) against the log: it is at
/// the log's last height and round, keeps the logged lock (or a later one its own votes alone
/// justify), re-broadcasts every own message of the height first and in log order, never sends
/// anything that conflicts with them, and rests with the timeout of its step scheduled.
pub fn check_recovered(machine: &Consensus, outputs: &[Output], log: &[WalEntry]) {
    let Some(start) = log.iter().rposition(|entry| matches!(entry, WalEntry::StartHeight(_))) else {
        assert!(log.is_empty());
        assert_eq!(machine.status(), Status::Idle);
        assert!(outputs.is_empty());
        return;
    };
    let height = log[start].height();
    let entries = &log[start..];
    assert_eq!(machine.height(), height);
    let broadcasts: Vec<&Message> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Broadcast(message) => Some(message),
            _ => None,
        })
        .collect();
    let mut sent: Vec<&Message> = Vec::new();
    for entry in entries {
        if let WalEntry::Sent(message) = entry
            && !sent.contains(&message)
        {
            sent.push(message);
        }
    }
    assert!(broadcasts.len() >= sent.len(), "every own message is re-broadcast");
    assert_eq!(broadcasts[..sent.len()], sent[..], "re-broadcasts first, in log order");
    for broadcast in &broadcasts {
        for logged in &sent {
            let same_slot = (broadcast.round(), broadcast.kind()) == (logged.round(), logged.kind());
            assert!(!same_slot || broadcast == logged, "recovery sent {broadcast:?} against the logged {logged:?}");
        }
    }
    if machine.status() == Status::Decided {
        // A validator with more than two thirds of the stake decides on its own votes.
        return;
    }
    assert_eq!(machine.status(), Status::Running);
    let round = entries
        .iter()
        .filter_map(|entry| match entry {
            WalEntry::StartRound { round, .. } => Some(*round),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    assert_eq!(machine.round(), round, "recovery resumes in the logged round");
    let lock = entries.iter().rev().find_map(|entry| match entry {
        WalEntry::Lock { round, value, .. } => Some((*round, *value)),
        _ => None,
    });
    if let Some((locked_round, locked_value)) = lock {
        let (round_now, value_now) = machine.locked().expect("a logged lock is kept");
        assert!(round_now >= locked_round);
        if round_now == locked_round {
            assert_eq!(value_now, locked_value);
        }
    }
    let resting = Timeout { height, round: machine.round(), step: machine.step() };
    let scheduled =
        outputs.iter().any(|output| matches!(output, Output::ScheduleTimeout { timeout, .. } if *timeout == resting));
    assert!(scheduled, "recovery schedules the timeout of the step it rests in: {resting:?}");
}
