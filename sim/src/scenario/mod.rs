//! The scenario file: what a run simulates, in YAML.
//!
//! Every section but `name` and `duration` has defaults; unknown keys are errors; every error names
//! the file, line and column and what was expected. `zkcrowd schema` prints the JSON Schema of this
//! format for editors. See `docs/scenarios.md` for the reference with examples.

mod units;

use std::collections::BTreeSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zkcrowd_market::MarketParams;
use zkcrowd_primitives::{Zkpow, yaml};

pub use units::{DURATION_FORM, RATE_FORM, Rate, SimDuration, UnitError};

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// Seed used when `--seed` is not given.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long users send transactions and faults may happen (the fault phase).
    pub duration: SimDuration,
    /// After `duration`, how long the run may continue without new transactions so that the last
    /// blocks get proven (the healed phase ends early once every block is fully proven).
    /// Defaults to the liveness bound.
    #[serde(default)]
    pub drain: Option<SimDuration>,
    /// The sequencer chain.
    #[serde(default)]
    pub chain: ChainSection,
    /// Simulated links.
    #[serde(default)]
    pub network: NetworkSection,
    /// Users and their transactions.
    #[serde(default)]
    pub load: LoadSection,
    /// Proving plugins.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// Market parameters (part of the genesis).
    #[serde(default)]
    pub market: MarketParams,
    /// How proving time is modeled.
    #[serde(default)]
    pub proofs: ProofsSection,
    /// The L1 that fully proven blocks are posted to.
    #[serde(default)]
    pub l1: L1Section,
    /// Faults, each at a simulated time.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Which checks to run (all by default).
    #[serde(default = "default_checks")]
    pub checks: Vec<Check>,
    /// **Test only**: deliberate breakage that makes one checker fire (see [`Sabotage`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sabotage: Vec<Sabotage>,
}

/// **Test only**: something broken on purpose so that a checker can be seen to catch it
/// (`sim/tests/checkers.rs` runs one small scenario per checker). Node bugs exist only in a build
/// with the `test-bugs` cargo feature (the tests enable it); other builds refuse them at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sabotage {
    /// `no_lost_tx` — node bug: every validator acknowledges some user transactions and forgets
    /// them, re-sends included.
    DropAcceptedTxs,
    /// `token_conservation` — node bug: every block mints one ZKPoW from nowhere, on every
    /// validator alike.
    MintOnCommit,
    /// `no_payment_to_non_assignee` — node bug: the market pays a valid proof from any plugin.
    PayAnySubmitter,
    /// `roots_agree` — node bug: validator 0 commits its own first proposal without consensus.
    CommitOwnProposal,
    /// `liveness` — simulator: every plugin stops proving after the first 20 simulated seconds
    /// (it stays online and keeps its jobs until their deadlines).
    StopProving,
    /// `l1_caught_up` — simulator: no submission agent ever submits.
    MuteL1Agents,
}

impl Sabotage {
    /// The node bug behind this sabotage, if it is one.
    pub fn is_node_bug(self) -> bool {
        matches!(self, Self::DropAcceptedTxs | Self::MintOnCommit | Self::PayAnySubmitter | Self::CommitOwnProposal)
    }

    /// The checker this sabotage is meant to trip.
    pub fn target(self) -> Checker {
        match self {
            Self::DropAcceptedTxs => Checker::NoLostTx,
            Self::MintOnCommit => Checker::TokenConservation,
            Self::PayAnySubmitter => Checker::NoPaymentToNonAssignee,
            Self::CommitOwnProposal => Checker::RootsAgree,
            Self::StopProving => Checker::Liveness,
            Self::MuteL1Agents => Checker::L1CaughtUp,
        }
    }

    /// The node's bug for this sabotage (`test-bugs` builds only).
    #[cfg(feature = "test-bugs")]
    pub fn test_bug(self) -> Option<zkcrowd_primitives::TestBug> {
        use zkcrowd_primitives::TestBug;
        match self {
            Self::DropAcceptedTxs => Some(TestBug::DropAcceptedTxs),
            Self::MintOnCommit => Some(TestBug::MintOnCommit),
            Self::PayAnySubmitter => Some(TestBug::PayAnySubmitter),
            Self::CommitOwnProposal => Some(TestBug::CommitOwnProposal),
            Self::StopProving | Self::MuteL1Agents => None,
        }
    }
}

/// The checkers. Each declares its name and its failure class, from which the process's exit
/// status follows ([`Checker::class`], [`FailureClass::exit_code`]): a checker cannot be added
/// without saying what its violation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::EnumIter)]
pub enum Checker {
    /// See [`Check::NoLostTx`].
    NoLostTx,
    /// See [`Check::TokenConservation`].
    TokenConservation,
    /// See [`Check::NoPaymentToNonAssignee`].
    NoPaymentToNonAssignee,
    /// See [`Check::RootsAgree`].
    RootsAgree,
    /// See [`Check::Liveness`].
    Liveness,
    /// See [`Check::L1CaughtUp`].
    L1CaughtUp,
}

/// What a violated checker means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureClass {
    /// Something wrong happened: a fork, tokens created or lost, a payment to the wrong plugin, a
    /// transaction lost.
    Correctness,
    /// Something right did not happen in time.
    Liveness,
}

impl FailureClass {
    /// The process exit status of a run with a violation of this class (correctness outranks
    /// liveness when both occur).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Correctness => 3,
            Self::Liveness => 4,
        }
    }
}

impl Checker {
    /// The name used in `summary.json` and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoLostTx => "no_lost_tx",
            Self::TokenConservation => "token_conservation",
            Self::NoPaymentToNonAssignee => "no_payment_to_non_assignee",
            Self::RootsAgree => "roots_agree",
            Self::Liveness => "liveness",
            Self::L1CaughtUp => "l1_caught_up",
        }
    }

    /// What its violation means.
    pub fn class(self) -> FailureClass {
        match self {
            Self::NoLostTx | Self::TokenConservation | Self::NoPaymentToNonAssignee | Self::RootsAgree => {
                FailureClass::Correctness
            }
            Self::Liveness | Self::L1CaughtUp => FailureClass::Liveness,
        }
    }

    /// The checker named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        <Self as strum::IntoEnumIterator>::iter().find(|c| c.name() == name)
    }
}

fn default_seed() -> u64 {
    1
}

/// The chain and its validators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// Number of validators (equal stake).
    #[serde(default = "default_validators")]
    pub validators: u16,
    /// Target time between blocks.
    #[serde(default = "default_block_time")]
    pub block_time: SimDuration,
    /// Block gas limit.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// EIP-155 chain id.
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    /// Initial (and minimum) base fee.
    #[serde(default = "default_base_fee")]
    pub base_fee: Zkpow,
    /// Most transactions a validator's mempool holds.
    #[serde(default = "default_mempool")]
    pub mempool_max: usize,
}

fn default_validators() -> u16 {
    4
}
fn default_block_time() -> SimDuration {
    SimDuration::from_secs(2)
}
fn default_gas_limit() -> u64 {
    30_000_000
}
fn default_chain_id() -> u64 {
    7777
}
fn default_base_fee() -> Zkpow {
    Zkpow::from_wei(1_000_000_000)
}
fn default_mempool() -> usize {
    50_000
}

impl Default for ChainSection {
    fn default() -> Self {
        Self {
            validators: default_validators(),
            block_time: default_block_time(),
            gas_limit: default_gas_limit(),
            chain_id: default_chain_id(),
            base_fee: default_base_fee(),
            mempool_max: default_mempool(),
        }
    }
}

/// Latency, jitter and loss of one class of links.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkClass {
    /// One-way base latency.
    pub latency: SimDuration,
    /// Extra latency, uniform in [0, jitter].
    #[serde(default)]
    pub jitter: SimDuration,
    /// Probability that a message is lost (0 to 1).
    #[serde(default)]
    pub loss: f64,
}

/// Link classes: between validators, and between clients (users, plugins) and validators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Validator ↔ validator.
    #[serde(default = "default_validator_links")]
    pub validators: LinkClass,
    /// User or plugin ↔ validator.
    #[serde(default = "default_client_links")]
    pub clients: LinkClass,
}

fn default_validator_links() -> LinkClass {
    LinkClass { latency: SimDuration::from_millis(20), jitter: SimDuration::from_millis(10), loss: 0.0 }
}
fn default_client_links() -> LinkClass {
    LinkClass { latency: SimDuration::from_millis(80), jitter: SimDuration::from_millis(40), loss: 0.0 }
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self { validators: default_validator_links(), clients: default_client_links() }
    }
}

/// Users and the transactions they send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// Number of user accounts.
    #[serde(default = "default_users")]
    pub users: u64,
    /// Transactions per unit of time, all users together (Poisson).
    #[serde(default = "default_tx_rate")]
    pub tx_rate: Rate,
    /// Shares of transaction kinds.
    #[serde(default)]
    pub mix: Mix,
    /// Each user's genesis balance.
    #[serde(default = "default_user_balance")]
    pub balance: Zkpow,
}

fn default_users() -> u64 {
    100
}
fn default_tx_rate() -> Rate {
    Rate::per_second_value(10.0)
}
fn default_user_balance() -> Zkpow {
    Zkpow::from_zkpow(10_000)
}

impl Default for LoadSection {
    fn default() -> Self {
        Self {
            users: default_users(),
            tx_rate: default_tx_rate(),
            mix: Mix::default(),
            balance: default_user_balance(),
        }
    }
}

/// Shares of transaction kinds (they must sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Value transfers between users (provable by the shipped circuit).
    #[serde(default = "one")]
    pub transfer: f64,
    /// Calls to a storage contract deployed at genesis (modeled proofs only).
    #[serde(default)]
    pub contract_call: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Mix {
    fn default() -> Self {
        Self { transfer: 1.0, contract_call: 0.0 }
    }
}

/// Proving plugins: who they are, when they are online, how fast and how honest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Distinct plugin identities (each with its own key and device).
    #[serde(default = "default_population")]
    pub population: u64,
    /// Identities online at the start (the rest arrive by `arrivals`). Defaults to all.
    #[serde(default)]
    pub initial_online: Option<u64>,
    /// How offline identities come online.
    #[serde(default)]
    pub arrivals: Arrivals,
    /// How long an online session lasts.
    #[serde(default)]
    pub session: Session,
    /// Idle spells within a session (online, but neither heartbeating nor proving).
    #[serde(default)]
    pub idle: Idle,
    /// Device speed classes (speed 1 = the cost model's reference device).
    #[serde(default = "default_devices")]
    pub devices: Vec<Device>,
    /// Shares of behaviours (they must sum to 1).
    #[serde(default)]
    pub behaviours: Behaviours,
    /// A withholder submits a finished proof once the bounty reaches `bounty_factor` × base, or
    /// when its deadline is near.
    #[serde(default = "default_withhold_factor")]
    pub withhold_until_factor: f64,
    /// Each plugin's genesis balance (pays gas for heartbeats and submissions).
    #[serde(default = "default_plugin_balance")]
    pub balance: Zkpow,
}

fn default_population() -> u64 {
    50
}
fn default_devices() -> Vec<Device> {
    vec![Device { share: 1.0, speed: 1.0 }]
}
fn default_withhold_factor() -> f64 {
    2.0
}
fn default_plugin_balance() -> Zkpow {
    Zkpow::from_zkpow(100)
}

impl Default for PluginsSection {
    fn default() -> Self {
        Self {
            population: default_population(),
            initial_online: None,
            arrivals: Arrivals::default(),
            session: Session::default(),
            idle: Idle::default(),
            devices: default_devices(),
            behaviours: Behaviours::default(),
            withhold_until_factor: default_withhold_factor(),
            balance: default_plugin_balance(),
        }
    }
}

/// How offline plugins come online.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrivals {
    /// Nobody arrives after the start.
    None,
    /// Poisson arrivals at `rate`, each picking a random offline identity.
    Poisson {
        /// Arrivals per unit of time.
        rate: Rate,
    },
}

impl Default for Arrivals {
    fn default() -> Self {
        Self::None
    }
}

/// Session length distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum Session {
    /// Online until the end of the run.
    Forever,
    /// Log-normal: `median` and `sigma` (of the underlying normal).
    Lognormal {
        /// Median session length.
        median: SimDuration,
        /// Spread.
        sigma: f64,
    },
    /// Exponential with `mean`.
    Exponential {
        /// Mean session length.
        mean: SimDuration,
    },
}

impl Default for Session {
    fn default() -> Self {
        Self::Forever
    }
}

/// Idle spells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Idle {
    /// Probability that a session contains one idle spell (at a uniform point in it).
    #[serde(default)]
    pub probability: f64,
    /// Length of a spell.
    #[serde(default = "default_idle")]
    pub duration: SimDuration,
}

fn default_idle() -> SimDuration {
    SimDuration::from_secs(300)
}

impl Default for Idle {
    fn default() -> Self {
        Self { probability: 0.0, duration: default_idle() }
    }
}

/// A device class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Share of plugins with this device.
    pub share: f64,
    /// Speed relative to the reference device (proving time divides by it).
    pub speed: f64,
}

/// Shares of plugin behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Behaviours {
    /// Prove every job and submit at once.
    #[serde(default = "one")]
    pub honest: f64,
    /// Heartbeat, take jobs, never prove.
    #[serde(default)]
    pub lazy: f64,
    /// Submit proofs that do not verify.
    #[serde(default)]
    pub invalid_proofs: f64,
    /// Never prove; resubmit other plugins' proofs seen in the mempool under their own name.
    #[serde(default)]
    pub copier: f64,
    /// Prove, but hold the proof until the bounty rises (see `withhold_until_factor`).
    #[serde(default)]
    pub withholder: f64,
}

impl Default for Behaviours {
    fn default() -> Self {
        Self { honest: 1.0, lazy: 0.0, invalid_proofs: 0.0, copier: 0.0, withholder: 0.0 }
    }
}

/// The proving-time model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofsSection {
    /// Cost profile: `measured` (this project's circuits, measured by `zkcrowd calibrate`) or
    /// `zkevm-reference` (docs/protocol.md §2).
    #[serde(default)]
    pub profile: CostProfileName,
    /// Spread of proving times (sigma of a log-normal factor; 0 = exact).
    #[serde(default = "default_jitter")]
    pub jitter_sigma: f64,
    /// Which jobs get real plonky2 proofs, verified by every validator: `all`, or
    /// `{ sample_rate: 0.01 }` (a seeded sample of leaf jobs; an aggregate is real when both its
    /// children were). Absent: every proof is modeled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<RealProofs>,
}

/// Which jobs are proven for real (see [`ProofsSection::real`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RealProofs {
    /// Every job a shipped circuit can prove (transfers, market-call spans, their aggregates).
    All,
    /// A seeded sample of leaf jobs.
    #[serde(untagged)]
    Sampled {
        /// Share of leaf jobs, in [0, 1].
        sample_rate: f64,
    },
}

impl<'de> Deserialize<'de> for RealProofs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Sampled {
            sample_rate: f64,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Sampled(Sampled),
        }
        const EXPECTED: &str = "expected `all` or `{ sample_rate: FRACTION }` (e.g. `{ sample_rate: 0.01 }`)";
        match Raw::deserialize(deserializer) {
            Ok(Raw::Word(word)) if word == "all" => Ok(Self::All),
            Ok(Raw::Sampled(Sampled { sample_rate })) => Ok(Self::Sampled { sample_rate }),
            Ok(Raw::Word(word)) => Err(serde::de::Error::custom(format!("`{word}`: {EXPECTED}"))),
            Err(_) => Err(serde::de::Error::custom(EXPECTED)),
        }
    }
}

impl RealProofs {
    /// Whether leaf job `job` is proven for real in a run with `seed`: all jobs, or those whose
    /// `hash(seed, job)` falls below the rate (a pure function, so every agent agrees).
    pub fn samples(&self, seed: u64, job: u64) -> bool {
        match *self {
            Self::All => true,
            Self::Sampled { sample_rate } => {
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                sha2::Digest::update(&mut hasher, b"zkcrowd real-proof sample");
                sha2::Digest::update(&mut hasher, seed.to_be_bytes());
                sha2::Digest::update(&mut hasher, job.to_be_bytes());
                let digest = sha2::Digest::finalize(hasher);
                let draw = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
                (draw as f64) < sample_rate * (u64::MAX as f64)
            }
        }
    }
}

fn default_jitter() -> f64 {
    0.2
}

impl Default for ProofsSection {
    fn default() -> Self {
        Self { profile: CostProfileName::default(), jitter_sigma: default_jitter(), real: None }
    }
}

/// Which L1 the submission agents post fully proven blocks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum L1Kind {
    /// No L1: blocks stop at "fully proven".
    #[default]
    None,
    /// The Rollup contract's bytecode in an in-process revm (fast; no block hashes).
    Embedded,
    /// A real anvil process (`--port 0`), driven in lockstep with the simulated clock.
    Anvil,
}

/// What a validator's submission agent does with its slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentBehaviour {
    /// Submits the fully proven blocks the L1 lacks, in its own slots.
    #[default]
    Honest,
    /// Never submits: its slots are missed and pass to the next agent.
    SkipSlots,
    /// Submits in every L1 block, also in other agents' slots (reverted: `NotSlotOwner`).
    OutOfSlot,
    /// Submits in its slots with a corrupted pre root (reverted: `WrongPreRoot`).
    WrongPreRoot,
}

/// One validator's agent behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentOverride {
    /// Validator index.
    pub validator: u16,
    /// Its agent's behaviour.
    pub behaviour: AgentBehaviour,
}

/// The L1: the Rollup contract and the validators' submission agents (docs/protocol.md §1, steps 9-10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct L1Section {
    /// `none`, `embedded` or `anvil`.
    #[serde(default)]
    pub kind: L1Kind,
    /// Length of a submission slot; slot k belongs to validator k mod n.
    #[serde(default = "default_l1_slot")]
    pub slot: SimDuration,
    /// Time between L1 blocks (each block's timestamp comes from the simulated clock).
    #[serde(default = "default_l1_slot")]
    pub block_time: SimDuration,
    /// Most L2 blocks an agent submits in one L1 block.
    #[serde(default = "default_blocks_per_submission")]
    pub max_blocks_per_l1_block: u32,
    /// Attempts to reach the L1 in a slot before an agent waits for its next slot.
    #[serde(default = "default_l1_attempts")]
    pub attempts: u32,
    /// Wait between attempts.
    #[serde(default = "default_l1_backoff")]
    pub retry_backoff: SimDuration,
    /// Agents that do not behave (the rest are honest).
    #[serde(default)]
    pub agents: Vec<AgentOverride>,
}

fn default_l1_slot() -> SimDuration {
    SimDuration::from_secs(12)
}
fn default_blocks_per_submission() -> u32 {
    32
}
fn default_l1_attempts() -> u32 {
    3
}
fn default_l1_backoff() -> SimDuration {
    SimDuration::from_secs(1)
}

impl Default for L1Section {
    fn default() -> Self {
        Self {
            kind: L1Kind::None,
            slot: default_l1_slot(),
            block_time: default_l1_slot(),
            max_blocks_per_l1_block: default_blocks_per_submission(),
            attempts: default_l1_attempts(),
            retry_backoff: default_l1_backoff(),
            agents: Vec::new(),
        }
    }
}

impl L1Section {
    /// The behaviour of validator `index`'s agent.
    pub fn behaviour(&self, index: u16) -> AgentBehaviour {
        self.agents.iter().rev().find(|a| a.validator == index).map_or(AgentBehaviour::Honest, |a| a.behaviour)
    }
}

/// A named cost profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CostProfileName {
    /// This project's circuits as `zkcrowd calibrate` measured them on the reference device
    /// (`sim/profiles/measured.json`). `calibrated` is accepted as an older name.
    #[default]
    #[serde(alias = "calibrated")]
    Measured,
    /// A full zkEVM (docs/protocol.md §2): ~121.5 CPU-s per transfer, ~21 CPU-s per aggregation.
    ZkevmReference,
}

/// A fault at a simulated time: exactly one kind per entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// When it starts (not needed for `random_crashes`).
    #[serde(default)]
    pub at: Option<SimDuration>,
    /// A validator crashes and restarts.
    #[serde(default)]
    pub crash: Option<CrashFault>,
    /// Some validators are cut off from the others.
    #[serde(default)]
    pub partition: Option<PartitionFault>,
    /// Messages are lost on a class of links.
    #[serde(default)]
    pub message_loss: Option<LossFault>,
    /// A fraction of online plugins leaves at once.
    #[serde(default)]
    pub plugin_exodus: Option<ExodusFault>,
    /// Validators crash at seeded-random times.
    #[serde(default)]
    pub random_crashes: Option<RandomCrashes>,
    /// The L1 cannot be reached by any agent (its blocks go on, empty of submissions).
    #[serde(default)]
    pub l1_outage: Option<OutageFault>,
}

/// An L1 outage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageFault {
    /// How long it lasts.
    #[serde(rename = "for")]
    pub duration: SimDuration,
}

/// A validator crash.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrashFault {
    /// Validator index.
    pub validator: u16,
    /// Downtime before it restarts (it keeps its stored chain, loses memory).
    pub restart_after: SimDuration,
}

/// A partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionFault {
    /// Validators on one side (the rest, users and plugins are on the other).
    pub validators: Vec<u16>,
    /// How long it lasts.
    #[serde(rename = "for")]
    pub duration: SimDuration,
}

/// Which links a loss fault hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkSet {
    /// Validator ↔ validator.
    Validators,
    /// Client ↔ validator.
    Clients,
    /// Every link.
    #[default]
    All,
}

/// Message loss for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    /// Probability of losing each message (0 to 1).
    pub rate: f64,
    /// How long it lasts.
    #[serde(rename = "for")]
    pub duration: SimDuration,
    /// Which links.
    #[serde(default)]
    pub links: LinkSet,
}

/// A plugin exodus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExodusFault {
    /// Fraction of online plugins that leave (0 to 1).
    pub fraction: f64,
    /// If set, they come back after this long.
    #[serde(default)]
    pub return_after: Option<SimDuration>,
}

/// Seeded-random validator crashes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomCrashes {
    /// How many crashes.
    pub count: u32,
    /// Crashes start no earlier than this.
    #[serde(default)]
    pub from: SimDuration,
    /// …and no later than this (defaults to `duration`).
    #[serde(default)]
    pub until: Option<SimDuration>,
    /// Downtime of each.
    pub restart_after: SimDuration,
}

/// A check run during and after the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Every submitted transaction is committed or refused with a reason; every committed
    /// transaction's job is proven exactly once.
    NoLostTx,
    /// The supply identity holds on every validator after every block.
    TokenConservation,
    /// Every reward goes to the plugin the job was assigned to (or, with `after_deadline: open`,
    /// to an active plugin after a missed deadline).
    NoPaymentToNonAssignee,
    /// Every validator that commits a height commits the same block (same state, ledger and
    /// market roots).
    RootsAgree,
    /// Every block is fully proven within the bound, counted from its commit or from the end of
    /// the last fault, whichever is later.
    Liveness {
        /// The bound.
        block_proven_within: SimDuration,
    },
    /// With an L1: the run ends with the Rollup's proven head at the L2's last fully proven block
    /// (every fully proven block reached L1). Without an L1 it is not reported.
    L1CaughtUp,
}

impl Check {
    /// The check's name in `summary.json`.
    pub fn name(&self) -> &'static str {
        self.checker().name()
    }

    /// Its checker.
    pub fn checker(&self) -> Checker {
        match self {
            Self::NoLostTx => Checker::NoLostTx,
            Self::TokenConservation => Checker::TokenConservation,
            Self::NoPaymentToNonAssignee => Checker::NoPaymentToNonAssignee,
            Self::RootsAgree => Checker::RootsAgree,
            Self::Liveness { .. } => Checker::Liveness,
            Self::L1CaughtUp => Checker::L1CaughtUp,
        }
    }
}

fn default_checks() -> Vec<Check> {
    vec![
        Check::NoLostTx,
        Check::TokenConservation,
        Check::NoPaymentToNonAssignee,
        Check::RootsAgree,
        Check::Liveness { block_proven_within: SimDuration::from_secs(600) },
        Check::L1CaughtUp,
    ]
}

/// A scenario that could not be used: the message names the file and, when known, line and column.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let scenario: Self = yaml::from_file(path).map_err(|e| ScenarioError(e.to_string()))?;
        scenario.validate().map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        Ok(scenario)
    }

    /// Parses and validates scenario text (`path` names it in errors).
    pub fn from_str(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = yaml::from_str(path, text).map_err(|e| ScenarioError(e.to_string()))?;
        scenario.validate().map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        Ok(scenario)
    }

    /// The liveness bound, if the liveness check is on.
    pub fn liveness_bound(&self) -> Option<SimDuration> {
        self.checks.iter().find_map(|c| match c {
            Check::Liveness { block_proven_within } => Some(*block_proven_within),
            _ => None,
        })
    }

    /// How long the run may go on after `duration`.
    pub fn drain(&self) -> SimDuration {
        self.drain.or(self.liveness_bound()).unwrap_or(SimDuration::from_secs(600))
    }

    /// When the last fault is over (the start of the healed phase), or zero.
    pub fn heal_time(&self) -> SimDuration {
        self.faults
            .iter()
            .map(|f| {
                let at = f.at.unwrap_or_default().as_millis();
                let end = if let Some(c) = f.crash {
                    at + c.restart_after.as_millis()
                } else if let Some(p) = &f.partition {
                    at + p.duration.as_millis()
                } else if let Some(l) = f.message_loss {
                    at + l.duration.as_millis()
                } else if let Some(e) = f.plugin_exodus {
                    at + e.return_after.map_or(0, |r| r.as_millis())
                } else if let Some(r) = f.random_crashes {
                    r.until.unwrap_or(self.duration).as_millis() + r.restart_after.as_millis()
                } else if let Some(o) = f.l1_outage {
                    at + o.duration.as_millis()
                } else {
                    at
                };
                SimDuration::from_millis(end)
            })
            .max()
            .unwrap_or_default()
    }

    /// Checks the rules a runnable scenario follows, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let share_sum = |values: &[f64]| values.iter().sum::<f64>();
        let fraction = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("{name} must be between 0 and 1, got {v}")) }
        };
        if self.duration == SimDuration::ZERO {
            return Err("duration must be positive".into());
        }
        if self.chain.validators == 0 {
            return Err("chain.validators must be at least 1".into());
        }
        if self.chain.block_time.as_millis() < 100 {
            return Err("chain.block_time must be at least 100ms".into());
        }
        let mix = self.load.mix;
        if mix.transfer < 0.0
            || mix.contract_call < 0.0
            || (share_sum(&[mix.transfer, mix.contract_call]) - 1.0).abs() > 1e-9
        {
            return Err("load.mix shares must be non-negative and sum to 1".into());
        }
        if self.load.users < 2 {
            return Err("load.users must be at least 2".into());
        }
        let b = self.plugins.behaviours;
        let shares = [b.honest, b.lazy, b.invalid_proofs, b.copier, b.withholder];
        if shares.iter().any(|s| *s < 0.0) || (share_sum(&shares) - 1.0).abs() > 1e-9 {
            return Err("plugins.behaviours shares must be non-negative and sum to 1".into());
        }
        let devices: Vec<f64> = self.plugins.devices.iter().map(|d| d.share).collect();
        if devices.is_empty() || devices.iter().any(|s| *s < 0.0) || (share_sum(&devices) - 1.0).abs() > 1e-9 {
            return Err("plugins.devices shares must be non-negative and sum to 1".into());
        }
        if self.plugins.devices.iter().any(|d| d.speed <= 0.0 || !d.speed.is_finite()) {
            return Err("plugins.devices speeds must be positive".into());
        }
        if self.plugins.initial_online.is_some_and(|n| n > self.plugins.population) {
            return Err("plugins.initial_online exceeds plugins.population".into());
        }
        fraction("plugins.idle.probability", self.plugins.idle.probability)?;
        if let Session::Lognormal { sigma, .. } = self.plugins.session {
            if !(sigma >= 0.0 && sigma.is_finite()) {
                return Err("plugins.session.sigma must be a non-negative number".into());
            }
        }
        for (name, link) in [("network.validators", self.network.validators), ("network.clients", self.network.clients)]
        {
            fraction(&format!("{name}.loss"), link.loss)?;
        }
        if !(self.proofs.jitter_sigma >= 0.0 && self.proofs.jitter_sigma.is_finite()) {
            return Err("proofs.jitter_sigma must be a non-negative number".into());
        }
        if let Some(RealProofs::Sampled { sample_rate }) = self.proofs.real {
            fraction("proofs.real.sample_rate", sample_rate)?;
        }
        self.market.validate().map_err(|e| format!("market: {e}"))?;
        for (i, fault) in self.faults.iter().enumerate() {
            let kinds = [
                fault.crash.is_some(),
                fault.partition.is_some(),
                fault.message_loss.is_some(),
                fault.plugin_exodus.is_some(),
                fault.random_crashes.is_some(),
                fault.l1_outage.is_some(),
            ];
            let place = format!("faults[{i}]");
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err(format!(
                    "{place} must have exactly one of crash, partition, message_loss, plugin_exodus, random_crashes, l1_outage"
                ));
            }
            if fault.l1_outage.is_some() && self.l1.kind == L1Kind::None {
                return Err(format!("{place}.l1_outage needs an L1 (l1.kind: embedded or anvil)"));
            }
            match (fault.at, fault.random_crashes.is_some()) {
                (None, false) => return Err(format!("{place} needs `at`")),
                (Some(at), false) if at >= self.duration => {
                    return Err(format!("{place}.at {at} is not within the duration {}", self.duration));
                }
                _ => {}
            }
            let validator_ok = |v: u16| v < self.chain.validators;
            if let Some(c) = fault.crash {
                if !validator_ok(c.validator) {
                    return Err(format!("{place}.crash.validator {} does not exist", c.validator));
                }
            }
            if let Some(p) = &fault.partition {
                let set: BTreeSet<u16> = p.validators.iter().copied().collect();
                if set.is_empty() || set.len() != p.validators.len() || !set.iter().all(|v| validator_ok(*v)) {
                    return Err(format!("{place}.partition.validators must be distinct existing validators"));
                }
            }
            if let Some(l) = fault.message_loss {
                fraction(&format!("{place}.message_loss.rate"), l.rate)?;
            }
            if let Some(e) = fault.plugin_exodus {
                fraction(&format!("{place}.plugin_exodus.fraction"), e.fraction)?;
            }
        }
        if self.l1.slot.as_millis() < 1_000 || self.l1.slot.as_millis() % 1_000 != 0 {
            return Err(format!("l1.slot must be a whole number of seconds, at least 1s, got {}", self.l1.slot));
        }
        if self.l1.block_time.as_millis() < 1_000 || self.l1.block_time.as_millis() % 1_000 != 0 {
            return Err(format!(
                "l1.block_time must be a whole number of seconds, at least 1s, got {}",
                self.l1.block_time
            ));
        }
        if self.l1.attempts == 0 || !(1..=32).contains(&self.l1.max_blocks_per_l1_block) {
            return Err("l1.attempts must be at least 1 and l1.max_blocks_per_l1_block between 1 and 32 \
                        (32 submissions of 400,000 gas fill ~43% of an L1 block)"
                .into());
        }
        if let Some(a) = self.l1.agents.iter().find(|a| a.validator >= self.chain.validators) {
            return Err(format!("l1.agents: validator {} does not exist", a.validator));
        }
        if let Some(node_bug) = self.sabotage.iter().find(|s| s.is_node_bug()) {
            if !cfg!(feature = "test-bugs") {
                return Err(format!(
                    "sabotage {node_bug:?} is a deliberate node bug, built only with the `test-bugs` cargo feature \
                     (tests only)"
                ));
            }
        }
        if self.sabotage.contains(&Sabotage::MuteL1Agents) && self.l1.kind == L1Kind::None {
            return Err("sabotage mute_l1_agents needs an L1 (l1.kind: embedded or anvil)".into());
        }
        let names: BTreeSet<&str> = self.checks.iter().map(Check::name).collect();
        if names.len() != self.checks.len() {
            return Err("checks: each check may appear once".into());
        }
        Ok(())
    }
}

/// The JSON Schema of scenario files, for editors (`zkcrowd schema`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).expect("a schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::from_str(Path::new("s.yaml"), text).map_err(|e| e.0)
    }

    /// A two-line scenario gets every default; malformed ones give one line with file:line:col
    /// and the expected form.
    #[test]
    fn defaults_and_errors() {
        let scenario = parse("name: tiny\nduration: 1m\n").unwrap();
        assert_eq!(scenario.chain.validators, 4);
        assert_eq!(scenario.checks.len(), 6);
        assert_eq!(scenario.drain(), SimDuration::from_secs(600));

        for (text, place, expected) in [
            ("name: x\nduration: 1m\ncolour: red\n", "s.yaml:3:1", "colour"),
            ("name: x\nduration: soon\n", "s.yaml:2:11", DURATION_FORM),
            ("name: x\nduration: 1m\nload: { tx_rate: -5/s }\n", "s.yaml:3:", "expected a rate like"),
            ("name: x\nduration: 1m\nplugins: { arrivals: { process: burst } }\n", "s.yaml:3:", "burst"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(place), "{error}");
            assert!(error.contains(expected), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        let error =
            parse("name: x\nduration: 1m\nfaults: [ { at: 2m, crash: { validator: 0, restart_after: 1s } } ]\n")
                .unwrap_err();
        assert!(error.contains("faults[0].at 2m is not within the duration 1m"), "{error}");
        let error = parse("name: x\nduration: 1m\nplugins: { behaviours: { honest: 0.5 } }\n").unwrap_err();
        assert!(error.contains("sum to 1"), "{error}");
    }

    /// The JSON Schema mentions every top-level section and forbids unknown keys.
    #[test]
    fn schema_covers_sections() {
        let schema = json_schema().to_string();
        for key in
            ["chain", "network", "load", "plugins", "market", "proofs", "faults", "checks", "additionalProperties"]
        {
            assert!(schema.contains(key), "schema lacks {key}");
        }
    }
}
