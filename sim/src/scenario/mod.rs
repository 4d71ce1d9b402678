//! The scenario file: what a run simulates, in YAML.
//!
//! Every section but `name` and `duration` has defaults; unknown keys are errors; every error names
//! the file, line and column and what was expected. `zkcrowd schema` prints the JSON Schema of this
//! format for editors. See `docs/scenarios.md` for the reference with examples.

pub mod limits;
mod units;

use std::collections::BTreeSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zkcrowd_chain::{BASE_FEE_WEI_MAX, CHAIN_ID_MAX, GAS_LIMIT_MAX, GAS_LIMIT_MIN, VALIDATORS_MAX};
use zkcrowd_market::MarketParams;
use zkcrowd_primitives::Zkpow;
use zkcrowd_primitives::yaml::{
    self, FieldPath, Invalid, Validate, YamlError, check_at_most, check_between, check_fraction, check_len,
    check_number,
};

use limits::*;
pub use units::{
    DURATION_FORM, DURATION_PARSE_MAX, RATE_FORM, RATE_PER_SECOND_MAX, RATE_PER_SECOND_MIN_POSITIVE, Rate, SimDuration,
    UnitError,
};

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports (at most 100 characters).
    #[schemars(length(min = 1, max = NAME_CHARS_MAX))]
    pub name: String,
    /// Seed used when `--seed` is not given.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long users send transactions and faults may happen (the fault phase). At most 12h.
    pub duration: SimDuration,
    /// After `duration`, how long the run may continue without new transactions so that the last
    /// blocks get proven (the healed phase ends early once every block is fully proven).
    /// Defaults to the liveness bound. At most 12h.
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
    /// Faults, each at a simulated time (at most 1,000).
    #[serde(default)]
    #[schemars(length(max = FAULTS_MAX))]
    pub faults: Vec<Fault>,
    /// Which checks to run (all by default).
    #[serde(default = "default_checks")]
    pub checks: Vec<Check>,
    /// **Test only**: deliberate breakage that makes one checker fire (see [`Sabotage`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sabotage: Vec<Sabotage>,
}

/// **Test only**: something broken on purpose so that a checker can be seen to catch it
/// (`sim/tests/all/checkers.rs` runs one small scenario per checker). Node bugs exist only in a build
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
    /// `no_payment_to_non_assignee` — node bug: the market pays every bounty to the first
    /// registered plugin, whoever proved the job.
    PayWrongPlugin,
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
        matches!(self, Self::DropAcceptedTxs | Self::MintOnCommit | Self::PayWrongPlugin | Self::CommitOwnProposal)
    }

    /// The checker this sabotage is meant to trip.
    pub fn target(self) -> Checker {
        match self {
            Self::DropAcceptedTxs => Checker::NoLostTx,
            Self::MintOnCommit => Checker::TokenConservation,
            Self::PayWrongPlugin => Checker::NoPaymentToNonAssignee,
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
            Self::PayWrongPlugin => Some(TestBug::PayWrongPlugin),
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
    #[schemars(range(min = 1, max = VALIDATORS_MAX))]
    pub validators: u16,
    /// Target time between blocks, from 100ms to 1m.
    #[serde(default = "default_block_time")]
    pub block_time: SimDuration,
    /// Block gas limit.
    #[serde(default = "default_gas_limit")]
    #[schemars(range(min = GAS_LIMIT_MIN, max = GAS_LIMIT_MAX))]
    pub gas_limit: u64,
    /// EIP-155 chain id.
    #[serde(default = "default_chain_id")]
    #[schemars(range(min = 1, max = CHAIN_ID_MAX))]
    pub chain_id: u64,
    /// Initial (and minimum) base fee, at most 2^64 − 1 wei.
    #[serde(default = "default_base_fee")]
    pub base_fee: Zkpow,
    /// Most transactions a validator's mempool holds.
    #[serde(default = "default_mempool")]
    #[schemars(range(min = 1, max = MEMPOOL_MAX))]
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
    /// One-way base latency, at most 10s.
    pub latency: SimDuration,
    /// Extra latency, uniform in [0, jitter], at most 10s.
    #[serde(default)]
    pub jitter: SimDuration,
    /// Probability that a message is lost (0 to 1).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
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
    #[schemars(range(min = USERS_MIN, max = USERS_MAX))]
    pub users: u64,
    /// Transactions per unit of time, all users together (Poisson). At most 1000/s, and at most
    /// 500,000 transactions over `duration`.
    #[serde(default = "default_tx_rate")]
    pub tx_rate: Rate,
    /// Shares of transaction kinds.
    #[serde(default)]
    pub mix: Mix,
    /// Each user's genesis balance, at most 10^12 ZKPOW.
    #[serde(default = "default_user_balance")]
    pub balance: Zkpow,
    /// Gas limit (and so gas used) of each heavy call (`mix.heavy_call`), 21,000 to the block gas
    /// limit (checked when the mix has heavy calls).
    #[serde(default = "default_heavy_call_gas")]
    pub heavy_call_gas: u64,
}

fn default_heavy_call_gas() -> u64 {
    5_000_000
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
            heavy_call_gas: default_heavy_call_gas(),
        }
    }
}

/// Shares of transaction kinds (they must sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Value transfers between users (provable by the shipped circuit).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub transfer: f64,
    /// Calls to a storage contract deployed at genesis (modeled proofs only).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub contract_call: f64,
    /// Heavy calls ("prover killers"): calls to a contract deployed at genesis that burns the
    /// whole gas limit (`load.heavy_call_gas`); their proving time grows with the gas (modeled
    /// proofs only).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub heavy_call: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Mix {
    fn default() -> Self {
        Self { transfer: 1.0, contract_call: 0.0, heavy_call: 0.0 }
    }
}

/// Proving plugins: who they are, when they are online, how fast and how honest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Distinct plugin identities (each with its own key and device).
    #[serde(default = "default_population")]
    #[schemars(range(min = 1, max = PLUGINS_MAX))]
    pub population: u64,
    /// Identities online at the start (the rest arrive by `arrivals`). Defaults to all.
    #[serde(default)]
    #[schemars(range(max = PLUGINS_MAX))]
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
    #[schemars(length(min = 1, max = DEVICES_MAX))]
    pub devices: Vec<Device>,
    /// Shares of behaviours (they must sum to 1).
    #[serde(default)]
    pub behaviours: Behaviours,
    /// A withholder submits a finished proof once the bounty reaches `bounty_factor` × base, or
    /// when its deadline is near.
    #[serde(default = "default_withhold_factor")]
    #[schemars(range(min = 1.0, max = WITHHOLD_FACTOR_MAX))]
    pub withhold_until_factor: f64,
    /// Each plugin's genesis balance (pays gas for heartbeats and submissions), at most 10^12 ZKPOW.
    #[serde(default = "default_plugin_balance")]
    pub balance: Zkpow,
    /// Price-driven participation of honest plugins (absent: every plugin takes part whenever it
    /// is online).
    #[serde(default)]
    pub economics: Option<EconomicsSection>,
}

/// Price-driven plugins: each has a cost of proving and decides, at its own cadence while online,
/// whether to take part, from the market quote its validator gives and its own income (see
/// docs/scenarios.md "Economics").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EconomicsSection {
    /// Share of the honest plugins that are price-driven (the rest take part whenever online).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share: f64,
    /// Cost of proving, ZKPoW per reference proving-second, drawn once per plugin.
    pub cost: CostDistribution,
    /// How often a plugin decides (at least 1s).
    #[serde(default = "default_decision_interval")]
    pub decision_interval: SimDuration,
    /// How it decides.
    pub rule: Rule,
}

fn default_decision_interval() -> SimDuration {
    SimDuration::from_secs(60)
}

/// A cost-of-proving distribution (per reference proving-second).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum CostDistribution {
    /// Every plugin the same.
    Fixed {
        /// The cost, at most 1000 ZKPOW.
        value: Zkpow,
    },
    /// Log-normal: `median` and `sigma` (of the underlying normal).
    Lognormal {
        /// Median cost, at most 1000 ZKPOW.
        median: Zkpow,
        /// Spread, from 0 to 3.
        #[schemars(range(min = 0.0, max = PROVING_COST_SIGMA_MAX))]
        sigma: f64,
    },
}

/// A decision rule (see docs/scenarios.md "Economics").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Myopic: take part while the quoted bounty per job is at least `(1 + margin) ×` its cost.
    Threshold {
        /// Margin over cost, 0 to 10.
        #[serde(default)]
        #[schemars(range(min = 0.0, max = DECISION_MARGIN_MAX))]
        margin: f64,
    },
    /// Exponentially smoothed income per job (own realized income while proving, the quote
    /// otherwise) with a switching cost.
    Smoothed {
        /// Weight of the newest signal, above 0 and at most 1.
        #[schemars(range(min = 0.0, max = 1.0))]
        alpha: f64,
        /// What joining or leaving costs, ZKPoW (the hysteresis).
        switching_cost: Zkpow,
    },
    /// Decide once at the first quote, never again: the inelastic baseline.
    Static,
}

fn default_population() -> u64 {
    50
}
fn default_devices() -> Vec<Device> {
    vec![Device::with_speed(1.0, 1.0)]
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
            economics: None,
        }
    }
}

/// How offline plugins come online.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
#[derive(Default)]
pub enum Arrivals {
    /// Nobody arrives after the start.
    #[default]
    None,
    /// Poisson arrivals at `rate`, each picking a random offline identity.
    Poisson {
        /// Arrivals per unit of time (at most 1000/s).
        rate: Rate,
    },
}

/// Session length distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
#[derive(Default)]
pub enum Session {
    /// Online until the end of the run.
    #[default]
    Forever,
    /// Log-normal: `median` and `sigma` (of the underlying normal).
    Lognormal {
        /// Median session length, from 1s to 12h.
        median: SimDuration,
        /// Spread, from 0 to 3.
        #[schemars(range(min = 0.0, max = SESSION_SIGMA_MAX))]
        sigma: f64,
    },
    /// Exponential with `mean`.
    Exponential {
        /// Mean session length, from 1s to 12h.
        mean: SimDuration,
    },
}

/// Idle spells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Idle {
    /// Probability that a session contains one idle spell (at a uniform point in it).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
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

/// A device class: a share of the plugins and either a speed or a measured class (exactly one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Share of plugins with this device.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share: f64,
    /// Speed relative to the reference device (proving time divides by it), from 0.01 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DEVICE_SPEED_MIN, max = DEVICE_SPEED_MAX))]
    pub speed: Option<f64>,
    /// A measured device class instead of a speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<DeviceClass>,
}

/// A device class whose speed was measured, compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// The browser plugin: the real circuits in WebAssembly in headless Chromium against native
    /// on the same machine (`zkcrowd calibrate --browser`, `sim/profiles/browser.json`).
    Browser,
}

impl Device {
    /// A device of speed `speed`.
    pub fn with_speed(share: f64, speed: f64) -> Self {
        Self { share, speed: Some(speed), class: None }
    }

    /// Its speed: the given one, or its class's measured one.
    pub fn speed(&self) -> f64 {
        match (self.speed, self.class) {
            (Some(speed), _) => speed,
            (None, Some(DeviceClass::Browser)) => crate::cost::browser_speed(),
            // Refused by validation; the reference device otherwise.
            (None, None) => 1.0,
        }
    }
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
    #[schemars(range(min = 0.0, max = PROOF_JITTER_SIGMA_MAX))]
    pub jitter_sigma: f64,
    /// The distribution of the proving-time factor: `lognormal` (median 1, `jitter_sigma`) or
    /// `exponential` (mean 1: memoryless service times, for queueing cross-checks; `jitter_sigma`
    /// is then unused).
    #[serde(default)]
    pub times: ProvingTimes,
    /// Which jobs get real plonky2 proofs, verified by every validator: `all`, or
    /// `{ sample_rate: 0.01 }` (a seeded sample of leaf jobs; an aggregate is real when both its
    /// children were). Absent: every proof is modeled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<RealProofs>,
}

/// The distribution of proving times around the profile's (see [`ProofsSection::times`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvingTimes {
    /// Log-normal factor with median 1 and sigma `jitter_sigma`.
    #[default]
    Lognormal,
    /// Exponential factor with mean 1.
    Exponential,
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

fn default_jitter() -> f64 {
    0.2
}

impl Default for ProofsSection {
    fn default() -> Self {
        Self {
            profile: CostProfileName::default(),
            jitter_sigma: default_jitter(),
            times: ProvingTimes::default(),
            real: None,
        }
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
    /// Submits in its slots with one byte of the proof flipped (reverted: `InvalidProof`).
    TamperedProof,
}

/// Which verifier the Rollup calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum L1Verifier {
    /// The simulation-only `ModeledProofVerifier`: checks the modeled record of a range's inputs
    /// (a hash), proves nothing. For runs with modeled proofs.
    #[default]
    Modeled,
    /// The generated `WrapperVerifier`: verifies each range's wrapped plonky2 proof on the L1.
    /// Needs `proofs.real: all` (every wrap is then a real proof).
    Wrapped,
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
    /// `modeled` or `wrapped`.
    #[serde(default)]
    pub verifier: L1Verifier,
    /// Length of a submission slot; slot k belongs to validator k mod n. Whole seconds, 1s to 1h.
    #[serde(default = "default_l1_slot")]
    pub slot: SimDuration,
    /// Time between L1 blocks (each block's timestamp comes from the simulated clock). Whole
    /// seconds, 1s to 1h.
    #[serde(default = "default_l1_slot")]
    pub block_time: SimDuration,
    /// Most ranges an agent submits in one L1 block (one `submitRange` transaction each).
    #[serde(default = "default_blocks_per_submission")]
    #[schemars(range(min = 1, max = L1_RANGES_PER_L1_BLOCK_MAX))]
    pub max_ranges_per_l1_block: u32,
    /// Attempts to reach the L1 in a slot before an agent waits for its next slot.
    #[serde(default = "default_l1_attempts")]
    #[schemars(range(min = 1, max = L1_ATTEMPTS_MAX))]
    pub attempts: u32,
    /// Wait between attempts, at most 1m.
    #[serde(default = "default_l1_backoff")]
    pub retry_backoff: SimDuration,
    /// Agents that do not behave (the rest are honest).
    #[serde(default)]
    #[schemars(length(max = VALIDATORS_MAX))]
    pub agents: Vec<AgentOverride>,
}

fn default_l1_slot() -> SimDuration {
    SimDuration::from_secs(12)
}
fn default_blocks_per_submission() -> u32 {
    L1_RANGES_PER_L1_BLOCK_MAX
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
            verifier: L1Verifier::default(),
            slot: default_l1_slot(),
            block_time: default_l1_slot(),
            max_ranges_per_l1_block: default_blocks_per_submission(),
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
    /// A validator turns Byzantine: its node runs as before, but what it sends is tampered with.
    #[serde(default)]
    pub byzantine: Option<ByzantineFault>,
}

/// What a Byzantine validator does to the consensus messages its (otherwise correct) node sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ByzantineBehaviour {
    /// Every prevote and precommit goes to half of the other validators as sent, and to the other
    /// half with a different value (nil for a block, a made-up block hash for nil): two
    /// different votes per step.
    Equivocate,
    /// Every own proposal goes to half of the other validators as built, and to the other half as
    /// a second valid block of the same height (the same transactions, a later timestamp).
    ConflictingProposals,
    /// Sends no prevotes and no precommits (still proposes).
    WithholdVotes,
    /// Every own proposal carries a block that fails execution (a wrong state root).
    InvalidBlock,
}

/// A Byzantine validator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByzantineFault {
    /// Validator index.
    pub validator: u16,
    /// What it does.
    pub behaviour: ByzantineBehaviour,
    /// How long (until the end of the run if absent).
    #[serde(default, rename = "for")]
    pub duration: Option<SimDuration>,
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
    #[schemars(range(min = 0.0, max = 1.0))]
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
    #[schemars(range(min = 0.0, max = 1.0))]
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
    #[schemars(range(min = 1, max = RANDOM_CRASHES_MAX))]
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
#[error(transparent)]
pub struct ScenarioError(#[from] pub YamlError);

impl Scenario {
    /// Reads and validates a scenario file; every error is one line with `file:line:column`.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        Ok(yaml::load(path)?)
    }

    /// Parses and validates scenario text (`path` names it in errors).
    pub fn from_str(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        Ok(yaml::load_str(path, text)?)
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
                } else if let Some(b) = f.byzantine {
                    // A bounded spell heals at its end; a Byzantine validator for the rest of the run
                    // is within the f the protocol must stay live with, so it heals nothing.
                    at + b.duration.map_or(0, |d| d.as_millis())
                } else {
                    at
                };
                SimDuration::from_millis(end)
            })
            .max()
            .unwrap_or_default()
    }

    /// Checks the rules a runnable scenario follows and every documented maximum
    /// ([`limits`]); the error names the offending value's path, which the loader turns into its
    /// line and column.
    pub fn validate(&self) -> Result<(), Invalid> {
        let root = FieldPath::root();
        let name = root.key("name");
        check_between(&name, self.name.chars().count(), 1, NAME_CHARS_MAX)?;
        if self.name.chars().any(char::is_control) {
            return Err(Invalid::rule(name, "the name has a control character", "printable text"));
        }
        check_between(&root.key("duration"), self.duration, SimDuration::from_millis(1), DURATION_MAX)?;
        if let Some(drain) = self.drain {
            check_at_most(&root.key("drain"), drain, DRAIN_MAX)?;
        }
        self.validate_chain(&root.key("chain"))?;
        for (key, link) in [("validators", &self.network.validators), ("clients", &self.network.clients)] {
            let path = root.key("network").key(key);
            check_at_most(&path.key("latency"), link.latency, LATENCY_MAX)?;
            check_at_most(&path.key("jitter"), link.jitter, LATENCY_MAX)?;
            check_fraction(&path.key("loss"), link.loss)?;
        }
        self.validate_load(&root.key("load"))?;
        self.validate_plugins(&root.key("plugins"))?;
        self.market.check().map_err(|e| e.within(&root.key("market")))?;
        if self.market.real_proofs != zkcrowd_market::RealProofPolicy::None {
            return Err(Invalid::rule(
                root.key("market").key("real_proofs"),
                "set in a scenario",
                "`proofs.real` (the simulator writes the chain's rule from it, salted with the seed)",
            ));
        }
        let proofs = root.key("proofs");
        check_number(&proofs.key("jitter_sigma"), self.proofs.jitter_sigma, 0.0, PROOF_JITTER_SIGMA_MAX)?;
        if let Some(RealProofs::Sampled { sample_rate }) = self.proofs.real {
            check_fraction(&proofs.key("real").key("sample_rate"), sample_rate)?;
        }
        self.validate_l1(&root.key("l1"))?;
        check_len(&root.key("faults"), self.faults.len(), FAULTS_MAX)?;
        for (i, fault) in self.faults.iter().enumerate() {
            self.validate_fault(&root.key("faults").index(i), fault)?;
        }
        let sabotage = root.key("sabotage");
        for (i, entry) in self.sabotage.iter().enumerate() {
            if entry.is_node_bug() && !cfg!(feature = "test-bugs") {
                return Err(Invalid::rule(
                    sabotage.index(i),
                    format!("{entry:?} is a deliberate node bug"),
                    "a build with the `test-bugs` cargo feature (tests only)",
                ));
            }
            if *entry == Sabotage::MuteL1Agents && self.l1.kind == L1Kind::None {
                return Err(Invalid::rule(
                    sabotage.index(i),
                    "mute_l1_agents without an L1",
                    "l1.kind: embedded or anvil",
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, check) in self.checks.iter().enumerate() {
            let path = root.key("checks").index(i);
            if !names.insert(check.name()) {
                return Err(Invalid::rule(path, format!("`{}` appears twice", check.name()), "each check once"));
            }
            if let Check::Liveness { block_proven_within } = check {
                let path = path.key("liveness").key("block_proven_within");
                check_between(&path, *block_proven_within, SimDuration::from_millis(1), DRAIN_MAX)?;
            }
        }
        Ok(())
    }

    fn validate_chain(&self, path: &FieldPath) -> Result<(), Invalid> {
        let chain = &self.chain;
        check_between(&path.key("validators"), usize::from(chain.validators), 1, VALIDATORS_MAX)?;
        check_between(&path.key("block_time"), chain.block_time, BLOCK_TIME_MIN, BLOCK_TIME_MAX)?;
        check_between(&path.key("gas_limit"), chain.gas_limit, GAS_LIMIT_MIN, GAS_LIMIT_MAX)?;
        check_between(&path.key("chain_id"), chain.chain_id, 1, CHAIN_ID_MAX)?;
        check_at_most(&path.key("base_fee"), chain.base_fee, Zkpow::from_wei(BASE_FEE_WEI_MAX))?;
        check_between(&path.key("mempool_max"), chain.mempool_max, 1, MEMPOOL_MAX)
    }

    fn validate_load(&self, path: &FieldPath) -> Result<(), Invalid> {
        let load = &self.load;
        check_between(&path.key("users"), load.users, USERS_MIN, USERS_MAX)?;
        let expected = load.tx_rate.per_second() * self.duration.as_secs_f64();
        if expected > TXS_EXPECTED_MAX {
            return Err(Invalid::rule(
                path.key("tx_rate"),
                format!("{} over the duration {} is {expected:.0} transactions", load.tx_rate, self.duration),
                format!("at most {TXS_EXPECTED_MAX} (memory grows with every transaction)"),
            )
            .related(FieldPath::root().key("duration")));
        }
        check_shares(
            &path.key("mix"),
            &[
                ("transfer", load.mix.transfer),
                ("contract_call", load.mix.contract_call),
                ("heavy_call", load.mix.heavy_call),
            ],
        )?;
        if load.mix.heavy_call > 0.0 {
            check_between(&path.key("heavy_call_gas"), load.heavy_call_gas, 21_000, self.chain.gas_limit)?;
        }
        check_at_most(&path.key("balance"), load.balance, Zkpow::from_wei(ACCOUNT_BALANCE_WEI_MAX))
    }

    fn validate_plugins(&self, path: &FieldPath) -> Result<(), Invalid> {
        let plugins = &self.plugins;
        check_between(&path.key("population"), plugins.population, 1, PLUGINS_MAX)?;
        if let Some(initial) = plugins.initial_online
            && initial > plugins.population
        {
            return Err(Invalid::rule(
                path.key("initial_online"),
                format!("{initial} exceeds the population {}", plugins.population),
                "at most plugins.population",
            )
            .related(path.key("population")));
        }
        let session = path.key("session");
        match plugins.session {
            Session::Forever => {}
            Session::Lognormal { median, sigma } => {
                check_between(&session.key("median"), median, SESSION_MIN, DURATION_MAX)?;
                check_number(&session.key("sigma"), sigma, 0.0, SESSION_SIGMA_MAX)?;
            }
            Session::Exponential { mean } => check_between(&session.key("mean"), mean, SESSION_MIN, DURATION_MAX)?,
        }
        check_fraction(&path.key("idle").key("probability"), plugins.idle.probability)?;
        check_at_most(&path.key("idle").key("duration"), plugins.idle.duration, DURATION_MAX)?;
        let devices = path.key("devices");
        if plugins.devices.is_empty() {
            return Err(Invalid::rule(devices, "no device classes", "at least one `{ share, speed }`"));
        }
        check_len(&devices, plugins.devices.len(), DEVICES_MAX)?;
        for (i, device) in plugins.devices.iter().enumerate() {
            check_fraction(&devices.index(i).key("share"), device.share)?;
            match (device.speed, device.class) {
                (Some(speed), None) => {
                    check_number(&devices.index(i).key("speed"), speed, DEVICE_SPEED_MIN, DEVICE_SPEED_MAX)?;
                }
                (None, Some(_)) => {}
                (Some(_), Some(_)) => {
                    return Err(Invalid::rule(
                        devices.index(i),
                        "both a speed and a class",
                        "one of `speed: 0.3` or `class: browser`",
                    ));
                }
                (None, None) => {
                    return Err(Invalid::rule(
                        devices.index(i),
                        "neither a speed nor a class",
                        "one of `speed: 0.3` or `class: browser`",
                    ));
                }
            }
        }
        let sum: f64 = plugins.devices.iter().map(|d| d.share).sum();
        if (sum - 1.0).abs() > SHARE_SUM_TOLERANCE {
            return Err(Invalid::rule(devices, format!("device shares sum to {sum}"), "shares that sum to 1"));
        }
        let b = plugins.behaviours;
        check_shares(
            &path.key("behaviours"),
            &[
                ("honest", b.honest),
                ("lazy", b.lazy),
                ("invalid_proofs", b.invalid_proofs),
                ("copier", b.copier),
                ("withholder", b.withholder),
            ],
        )?;
        check_number(&path.key("withhold_until_factor"), plugins.withhold_until_factor, 1.0, WITHHOLD_FACTOR_MAX)?;
        check_at_most(&path.key("balance"), plugins.balance, Zkpow::from_wei(ACCOUNT_BALANCE_WEI_MAX))?;
        if let Some(economics) = &plugins.economics {
            let at = path.key("economics");
            check_fraction(&at.key("share"), economics.share)?;
            let cost = at.key("cost");
            match economics.cost {
                CostDistribution::Fixed { value } => check_at_most(&cost.key("value"), value, PROVING_COST_MAX)?,
                CostDistribution::Lognormal { median, sigma } => {
                    check_at_most(&cost.key("median"), median, PROVING_COST_MAX)?;
                    check_number(&cost.key("sigma"), sigma, 0.0, PROVING_COST_SIGMA_MAX)?;
                }
            }
            check_between(
                &at.key("decision_interval"),
                economics.decision_interval,
                DECISION_INTERVAL_MIN,
                DURATION_MAX,
            )?;
            let rule = at.key("rule");
            match economics.rule {
                Rule::Threshold { margin } => {
                    check_number(&rule.key("threshold").key("margin"), margin, 0.0, DECISION_MARGIN_MAX)?
                }
                Rule::Smoothed { alpha, switching_cost } => {
                    let smoothed = rule.key("smoothed");
                    if !(alpha > 0.0 && alpha <= 1.0) {
                        return Err(Invalid::rule(
                            smoothed.key("alpha"),
                            format!("{alpha} is out of range"),
                            "above 0, at most 1 (the weight of the newest signal)",
                        ));
                    }
                    check_at_most(&smoothed.key("switching_cost"), switching_cost, SWITCHING_COST_MAX)?;
                }
                Rule::Static => {}
            }
        }
        Ok(())
    }

    fn validate_l1(&self, path: &FieldPath) -> Result<(), Invalid> {
        let l1 = &self.l1;
        for (key, time) in [("slot", l1.slot), ("block_time", l1.block_time)] {
            check_between(&path.key(key), time, L1_TIME_MIN, L1_TIME_MAX)?;
            if time.as_millis() % 1_000 != 0 {
                return Err(Invalid::rule(
                    path.key(key),
                    format!("{time} is not whole seconds"),
                    "a whole number of seconds",
                ));
            }
        }
        check_between(&path.key("max_ranges_per_l1_block"), l1.max_ranges_per_l1_block, 1, L1_RANGES_PER_L1_BLOCK_MAX)?;
        check_between(&path.key("attempts"), l1.attempts, 1, L1_ATTEMPTS_MAX)?;
        check_at_most(&path.key("retry_backoff"), l1.retry_backoff, L1_RETRY_BACKOFF_MAX)?;
        check_len(&path.key("agents"), l1.agents.len(), VALIDATORS_MAX)?;
        if l1.verifier == L1Verifier::Wrapped && !matches!(self.proofs.real, Some(RealProofs::All)) {
            return Err(Invalid::rule(
                path.key("verifier"),
                "wrapped needs every wrap proven for real".to_owned(),
                "`proofs.real: all` with `verifier: wrapped` (or `verifier: modeled`)",
            )
            .related(FieldPath::root().key("proofs").key("real")));
        }
        if l1.verifier == L1Verifier::Wrapped && (self.load.mix.contract_call > 0.0 || self.load.mix.heavy_call > 0.0) {
            // No shipped circuit proves a contract call: its block's root, and so its range's
            // wrap, would be modeled, which the wrapped verifier refuses.
            return Err(Invalid::rule(
                path.key("verifier"),
                "wrapped cannot verify ranges with contract calls (no circuit proves them)".to_owned(),
                "`load.mix.contract_call: 0` with `verifier: wrapped`",
            )
            .related(FieldPath::root().key("load").key("mix").key("contract_call")));
        }
        for (i, agent) in l1.agents.iter().enumerate() {
            self.check_validator(&path.key("agents").index(i).key("validator"), agent.validator)?;
        }
        Ok(())
    }

    fn check_validator(&self, path: &FieldPath, validator: u16) -> Result<(), Invalid> {
        if validator >= self.chain.validators {
            return Err(Invalid::rule(
                path.clone(),
                format!("validator {validator} does not exist (chain.validators: {})", self.chain.validators),
                format!("an index from 0 to {}", self.chain.validators.saturating_sub(1)),
            ));
        }
        Ok(())
    }

    fn validate_fault(&self, path: &FieldPath, fault: &Fault) -> Result<(), Invalid> {
        let kinds = [
            fault.crash.is_some(),
            fault.partition.is_some(),
            fault.message_loss.is_some(),
            fault.plugin_exodus.is_some(),
            fault.random_crashes.is_some(),
            fault.l1_outage.is_some(),
            fault.byzantine.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            return Err(Invalid::rule(
                path.clone(),
                format!("{count} fault kinds"),
                "exactly one of crash, partition, message_loss, plugin_exodus, random_crashes, l1_outage, byzantine",
            ));
        }
        let lasting = |key: &str, length: SimDuration| {
            check_between(&path.key(key).key("for"), length, SimDuration::from_millis(1), DURATION_MAX)
        };
        match (fault.at, fault.random_crashes.is_some()) {
            (None, false) => {
                return Err(Invalid::rule(path.clone(), "the fault has no `at`", "`at: DURATION` within the duration"));
            }
            (Some(at), false) if at >= self.duration => {
                return Err(Invalid::rule(
                    path.key("at"),
                    format!("{at} is not within the duration {}", self.duration),
                    format!("a time before {}", self.duration),
                ));
            }
            _ => {}
        }
        if let Some(byzantine) = fault.byzantine {
            self.check_validator(&path.key("byzantine").key("validator"), byzantine.validator)?;
            if let Some(length) = byzantine.duration {
                lasting("byzantine", length)?;
            }
        }
        if let Some(crash) = fault.crash {
            self.check_validator(&path.key("crash").key("validator"), crash.validator)?;
            check_at_most(&path.key("crash").key("restart_after"), crash.restart_after, DURATION_MAX)?;
        }
        if let Some(partition) = &fault.partition {
            let validators = path.key("partition").key("validators");
            if partition.validators.is_empty() {
                return Err(Invalid::rule(validators, "no validators", "at least one validator index"));
            }
            let mut seen = BTreeSet::new();
            for (j, validator) in partition.validators.iter().enumerate() {
                self.check_validator(&validators.index(j), *validator)?;
                if !seen.insert(*validator) {
                    return Err(Invalid::rule(
                        validators.index(j),
                        format!("validator {validator} is listed twice"),
                        "distinct validators",
                    ));
                }
            }
            lasting("partition", partition.duration)?;
        }
        if let Some(loss) = fault.message_loss {
            check_fraction(&path.key("message_loss").key("rate"), loss.rate)?;
            lasting("message_loss", loss.duration)?;
        }
        if let Some(exodus) = fault.plugin_exodus {
            check_fraction(&path.key("plugin_exodus").key("fraction"), exodus.fraction)?;
            if let Some(back) = exodus.return_after {
                check_at_most(&path.key("plugin_exodus").key("return_after"), back, DURATION_MAX)?;
            }
        }
        if let Some(random) = fault.random_crashes {
            let here = path.key("random_crashes");
            check_between(&here.key("count"), random.count, 1, RANDOM_CRASHES_MAX)?;
            let until = random.until.unwrap_or(self.duration);
            if let Some(until) = random.until {
                check_at_most(&here.key("until"), until, self.duration)
                    .map_err(|e| e.related(FieldPath::root().key("duration")))?;
            }
            if random.from >= until {
                return Err(Invalid::rule(
                    here.key("from"),
                    format!("{} is not before the end of the window, {until}", random.from),
                    "from < until (until defaults to the duration)",
                ));
            }
            check_at_most(&here.key("restart_after"), random.restart_after, DURATION_MAX)?;
        }
        if let Some(outage) = fault.l1_outage {
            if self.l1.kind == L1Kind::None {
                return Err(Invalid::rule(
                    path.key("l1_outage"),
                    "an L1 outage without an L1",
                    "an L1 (l1.kind: embedded or anvil)",
                ));
            }
            lasting("l1_outage", outage.duration)?;
        }
        Ok(())
    }
}

/// How far shares may sum from 1 (decimal fractions such as 0.1 are not exact in binary).
const SHARE_SUM_TOLERANCE: f64 = 1e-9;

/// Each share a fraction, all summing to 1; a bad sum is located at the mapping of shares.
fn check_shares(path: &FieldPath, shares: &[(&str, f64)]) -> Result<(), Invalid> {
    for (key, share) in shares {
        check_fraction(&path.key(*key), *share)?;
    }
    let sum: f64 = shares.iter().map(|(_, share)| share).sum();
    if (sum - 1.0).abs() > SHARE_SUM_TOLERANCE {
        return Err(Invalid::rule(path.clone(), format!("shares sum to {sum}"), "non-negative shares that sum to 1"));
    }
    Ok(())
}

impl Validate for Scenario {
    fn validate(&self) -> Result<(), Invalid> {
        Scenario::validate(self)
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
        Scenario::from_str(Path::new("s.yaml"), text).map_err(|e| e.to_string())
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
    }

    /// Cross-field and range errors are located at the offending value (for a sum of shares, the
    /// mapping; for `at` beyond `duration`, the `at`), on one line, with what was expected; a
    /// defaulted value is located at its section.
    #[test]
    fn validation_errors_are_located() {
        let head = "name: x\nduration: 1m\n";
        let cases = [
            (
                "plugins:\n  economics:\n    cost: { distribution: lognormal, median: 4 ZKPOW, sigma: 9 }\n    rule: static\n",
                "s.yaml:5:62:",
                "plugins.economics.cost.sigma: 9 is out of range; expected 0 to 3",
            ),
            (
                "plugins:\n  economics:\n    cost: { distribution: fixed, value: 1 ZKPOW }\n    rule: { smoothed: { alpha: 0, switching_cost: 1 ZKPOW } }\n",
                "s.yaml:6:32:",
                "plugins.economics.rule.smoothed.alpha: 0 is out of range; expected above 0, at most 1",
            ),
            (
                "market:\n  exclusion: { misses: 40, window_blocks: 10, exclude_blocks: 5 }\n",
                "s.yaml:4:24:",
                "market.exclusion.misses: 40 is above the maximum; expected at most 16",
            ),
            (
                "market:\n  gas_scaling: { deadline_blocks_per_mgas: 5000 }\n",
                "s.yaml:4:44:",
                "market.gas_scaling.deadline_blocks_per_mgas: 5000 is above the maximum",
            ),
            (
                "load:\n  mix: { transfer: 0.5, heavy_call: 0.5 }\n  heavy_call_gas: 90000000\n",
                "s.yaml:5:19:",
                "load.heavy_call_gas: 90000000 is above the maximum; expected at most 30000000",
            ),
            (
                "faults: [ { at: 2m, crash: { validator: 0, restart_after: 1s } } ]\n",
                "s.yaml:3:17:",
                "faults[0].at: 2m is not within the duration 1m",
            ),
            (
                "plugins: { behaviours: { honest: 0.5 } }\n",
                "s.yaml:3:24:",
                "plugins.behaviours: shares sum to 0.5; expected",
            ),
            (
                "faults:\n  - { at: 10s, crash: { validator: 7, restart_after: 1s } }\n",
                "s.yaml:4:36:",
                "validator 7 does not exist",
            ),
            (
                "faults:\n  - { at: 10s, partition: { validators: [0, 9], for: 1s } }\n",
                "s.yaml:4:45:",
                "faults[0].partition.validators[1]",
            ),
            (
                "chain:\n  validators: 0\n",
                "s.yaml:4:15:",
                "chain.validators: 0 is below the minimum; expected at least 1",
            ),
            ("l1: { slot: 0s }\n", "s.yaml:3:13:", "l1.slot: 0s is below the minimum; expected at least 1s"),
            ("l1: { block_time: 1500ms }\n", "s.yaml:3:19:", "l1.block_time: 1500ms is not whole seconds"),
            (
                "plugins: { population: 4000000000 }\n",
                "s.yaml:3:24:",
                "plugins.population: 4000000000 is above the maximum; expected at most 100000",
            ),
            ("load: { users: 1000000000 }\n", "s.yaml:3:16:", "load.users"),
            ("plugins: { population: 5, initial_online: 6 }\n", "s.yaml:3:43:", "plugins.initial_online"),
            (
                "market: { proof_deadline_blocks: 200 }\n",
                "s.yaml:3:34:",
                "market.heartbeat_window_blocks: 150 does not exceed proof_deadline_blocks (200)",
            ),
            (
                "market: { bounty: { age: { curve: steps, table: [ { after_blocks: 5, factor: 2 }, { after_blocks: 5, factor: 3 } ] } } }\n",
                "s.yaml:3:",
                "market.bounty.age.table[1].after_blocks",
            ),
            ("network: { clients: { latency: 1h } }\n", "s.yaml:3:32:", "network.clients.latency"),
            (
                "proofs: { real: { sample_rate: 1.5 } }\n",
                "s.yaml:3:32:",
                "proofs.real.sample_rate: 1.5 is out of range; expected 0 to 1",
            ),
            (
                "plugins: { devices: [ { share: 1, speed: 0.5, class: browser } ] }\n",
                "s.yaml:3:",
                "plugins.devices[0]: both a speed and a class; expected one of `speed: 0.3` or `class: browser`",
            ),
            (
                "plugins: { devices: [ { share: 1 } ] }\n",
                "s.yaml:3:",
                "plugins.devices[0]: neither a speed nor a class",
            ),
            (
                "plugins: { devices: [ { share: 1, class: phone } ] }\n",
                "s.yaml:3:42:",
                "unknown variant `phone`, expected one of browser",
            ),
            (
                "plugins: { devices: [ { share: .nan, speed: 1 } ] }\n",
                "s.yaml:3:32:",
                "plugins.devices[0].share: NaN is out of range",
            ),
            ("checks: [ no_lost_tx, no_lost_tx ]\n", "s.yaml:3:23:", "checks[1]: `no_lost_tx` appears twice"),
            ("faults: [ { l1_outage: { for: 1m }, at: 5s } ]\n", "s.yaml:3:24:", "an L1 outage without an L1"),
        ];
        let mut wrong = Vec::new();
        for (tail, place, expected) in cases {
            let error = parse(&format!("{head}{tail}")).err().unwrap_or_else(|| "no error".into());
            if !error.starts_with(place) || !error.contains(expected) || error.lines().count() != 1 {
                wrong.push(format!("{place} {expected}: got {error}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // A defaulted value in a cross-field error: located at the value the file does spell out.
        let error = parse(
            "name: x\nduration: 1m\nplugins: { population: 5 }\nfaults: [ { plugin_exodus: { fraction: 2 } } ]\n",
        )
        .unwrap_err();
        assert!(error.starts_with("s.yaml:4:11:"), "{error}");
        let error = parse("name: x\nduration: 1000000000000h\n").unwrap_err();
        assert!(error.starts_with("s.yaml:2:11:"), "{error}");
        let error = parse("name: x\nduration: 12h\nload: { tx_rate: 100/s }\n").unwrap_err();
        assert!(
            error.starts_with("s.yaml:3:18: load.tx_rate: 100/s over the duration 12h is 4320000 transactions"),
            "{error}"
        );
        let error = parse("name: x\nduration: 13h\n").unwrap_err();
        assert!(error.starts_with("s.yaml:2:11: duration: 13h is above the maximum; expected at most 12h"), "{error}");
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
        // The maxima are in the schema where JSON Schema can say them (numbers and list lengths).
        let schema = json_schema();
        let definitions = &schema["$defs"];
        assert_eq!(definitions["PluginsSection"]["properties"]["population"]["maximum"], PLUGINS_MAX);
        assert_eq!(definitions["LoadSection"]["properties"]["users"]["maximum"], USERS_MAX);
        assert_eq!(definitions["ChainSection"]["properties"]["validators"]["maximum"], VALIDATORS_MAX);
        assert_eq!(definitions["Device"]["properties"]["speed"]["minimum"], DEVICE_SPEED_MIN);
        assert_eq!(schema["properties"]["faults"]["maxItems"], FAULTS_MAX);
        let deadline = &definitions["MarketParams"]["properties"]["proof_deadline_blocks"]["maximum"];
        assert_eq!(*deadline, zkcrowd_market::WINDOW_BLOCKS_MAX);
    }
}
