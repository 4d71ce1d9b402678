//! Market parameters: part of the genesis (every validator must agree on them) and of scenarios.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zkcrowd_primitives::yaml::{FieldPath, Invalid, Problem, check_at_least, check_at_most, check_between};
use zkcrowd_primitives::{SignedZkpow, WEI_PER_ZKPOW, Zkpow};

use crate::curve::{AgeCurve, Factor, SupplyCurve};

/// Longest heartbeat window or proof deadline: 1,000,000 blocks, 23 days of 2-second blocks and
/// longer than any run (a run is at most a day: 864,000 blocks of 100 ms). It keeps
/// `block + window` far from overflow.
pub const WINDOW_BLOCKS_MAX: u64 = 1_000_000;

/// Largest market amount (penalty, bounty bases, issuance per block, the magnitude of the debt
/// limit): 1,000,000 ZKPOW (10^24 wei). Times the largest age and supply factors (10^6 each) a bounty
/// stays below 10^36 wei, two orders of magnitude under `u128`.
pub const MARKET_AMOUNT_WEI_MAX: u128 = 1_000_000 * WEI_PER_ZKPOW;

/// Most jobs one plugin may hold at once: a device proves one job at a time, so more held jobs only
/// wait and miss deadlines; the eligible set and a plugin's job list stay small.
pub const JOBS_PER_PLUGIN_MAX: u32 = 64;

/// Most market transactions in one system job's span (a span circuit proves 16; larger modeled
/// spans are for studies).
pub const SYSTEM_JOB_TXS_MAX: u32 = 1_024;

/// Longest range of blocks wrapped for the L1 (`wrap_range_blocks`): 256 blocks of 2 s is under 9
/// minutes of L2 time per L1 submission; longer ranges only delay the L1.
pub const WRAP_RANGE_BLOCKS_MAX: u64 = 256;

/// Most deadline misses an exclusion policy may count ([`ExclusionParams::misses`]): a plugin
/// keeps at most this many recent miss blocks in its leaf.
pub const EXCLUSION_MISSES_MAX: u32 = 16;

/// Keeping plugins that keep missing deadlines off new work for a while (a reputation rule every
/// validator evaluates from chain data): a plugin that misses `misses` deadlines within
/// `window_blocks` blocks is not assigned jobs for the `exclude_blocks` blocks after the last of
/// them. Its held jobs stay with it until proven or missed; heartbeats and proofs are unaffected.
/// Without it a lazy plugin is only kept off the one job it failed, so every block it is given
/// waits a full deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExclusionParams {
    /// Deadline misses that exclude (1 to 16).
    #[schemars(range(min = 1, max = EXCLUSION_MISSES_MAX))]
    pub misses: u32,
    /// The window they must fall in, blocks (the last miss's block included).
    #[schemars(range(min = 1, max = WINDOW_BLOCKS_MAX))]
    pub window_blocks: u64,
    /// How long the plugin gets no new jobs, blocks.
    #[schemars(range(min = 1, max = WINDOW_BLOCKS_MAX))]
    pub exclude_blocks: u64,
}

/// Largest bounty per million gas of [`GasScaling`]: 1,000 ZKPOW (a 300M-gas transaction adds at
/// most 300,000 ZKPOW to its base).
pub const GAS_BOUNTY_PER_MGAS_MAX: Zkpow = Zkpow::from_zkpow(1_000);

/// Largest deadline extension per million gas of [`GasScaling`]: 3,000 blocks (a 300M-gas
/// transaction's deadline stays under [`WINDOW_BLOCKS_MAX`]).
pub const GAS_DEADLINE_BLOCKS_PER_MGAS_MAX: u64 = 3_000;

/// Gas above a plain transfer's 21,000 that prices and times a tx job: proving cost grows with the
/// work a transaction does, so a heavy contract call (a "prover killer") would otherwise pay a
/// transfer's bounty and get a transfer's deadline, which its prover cannot meet; every new
/// assignee would start it again and its block would never be fully proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GasScaling {
    /// Added to a tx job's base bounty per million gas above 21,000 (before the age and supply
    /// factors).
    #[serde(default)]
    pub bounty_per_mgas: Zkpow,
    /// Added to a tx job's proof deadline per million gas above 21,000 (rounded up).
    #[serde(default)]
    #[schemars(range(max = GAS_DEADLINE_BLOCKS_PER_MGAS_MAX))]
    pub deadline_blocks_per_mgas: u64,
}

const TRANSFER_GAS: u64 = 21_000;

impl GasScaling {
    /// The bounty added for `gas_used`, wei.
    pub fn bounty_extra_wei(&self, gas_used: u64) -> u128 {
        self.bounty_per_mgas.wei() * u128::from(gas_used.saturating_sub(TRANSFER_GAS)) / 1_000_000
    }

    /// The deadline blocks added for `gas_used`.
    pub fn deadline_extra_blocks(&self, gas_used: u64) -> u64 {
        (self.deadline_blocks_per_mgas * gas_used.saturating_sub(TRANSFER_GAS)).div_ceil(1_000_000)
    }
}

/// Who may submit a proof once a job's deadline has passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterDeadline {
    /// Only the current assignee, before its deadline (late proofs are rejected).
    #[default]
    AssignedOnly,
    /// Once a job has missed a deadline it is open: besides its new assignee, any active plugin
    /// may submit a valid proof bound to its own address, and the first one accepted is paid
    /// (like Boundless's secondary provers after a lock expires).
    Open,
}

/// Which jobs must be proven by a real proof: the chain refuses a modeled proof record for them
/// ([`crate::ProofRejection::ModeledNotAllowed`]). Every validator evaluates it from chain data
/// alone: whether the job has a circuit (a transfer or a span of market calls whose commitment
/// binds its ledger effect), its id, and for an aggregate whether both children were proven for
/// real. Jobs without a circuit (contract calls) may always carry a modeled record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RealProofPolicy {
    /// Modeled records are accepted for every job (simulation studies of the market alone).
    #[default]
    None,
    /// Every job that has a circuit, and every aggregate of two real children (a production chain).
    All,
    /// A sampled share of the leaf jobs that have a circuit — leaf job `j` is sampled when
    /// `sha256("zkcrowd real-proof sample" ‖ salt ‖ j)` read as a 64-bit number falls below
    /// `sample_rate × 2^64` — and every aggregate of two real children.
    Sampled {
        /// Share of leaf jobs, 0 to 1.
        sample_rate: Factor,
        /// Varies the sample between chains (the simulator uses the run's seed).
        salt: u64,
    },
}

impl RealProofPolicy {
    /// Whether a new leaf job `job` that has a circuit (`has_circuit`) must be proven for real.
    pub fn leaf_requires_real(&self, job: u64, has_circuit: bool) -> bool {
        if !has_circuit {
            return false;
        }
        match *self {
            Self::None => false,
            Self::All => true,
            Self::Sampled { sample_rate, salt } => {
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                sha2::Digest::update(&mut hasher, b"zkcrowd real-proof sample");
                sha2::Digest::update(&mut hasher, salt.to_be_bytes());
                sha2::Digest::update(&mut hasher, job.to_be_bytes());
                let digest = sha2::Digest::finalize(hasher);
                let draw = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
                // draw < rate × 2^64, in integers: draw × 10^6 < ppm × 2^64.
                u128::from(draw) * u128::from(crate::curve::PPM) < u128::from(sample_rate.ppm()) << 64
            }
        }
    }

    /// Whether a new aggregate whose children were both (`children_real`) proven for real must be.
    pub fn aggregate_requires_real(&self, children_real: bool) -> bool {
        children_real && *self != Self::None
    }
}

/// How a job's bounty is computed: `base × age.factor(age) × supply.factor(active)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BountyParams {
    /// Base bounty of a tx job (and of the per-block system job).
    #[serde(default = "default_base")]
    pub base: Zkpow,
    /// Base bounty of an aggregation job, of a block or of a range (defaults to `base`).
    #[serde(default)]
    pub aggregation_base: Option<Zkpow>,
    /// Base bounty of a wrap job (defaults to the aggregation base): a wrap costs a plugin
    /// several aggregations' worth of proving.
    #[serde(default)]
    pub wrap_base: Option<Zkpow>,
    /// Growth with the job's age.
    #[serde(default)]
    pub age: AgeCurve,
    /// Premium when active plugins are scarce.
    #[serde(default)]
    pub supply: SupplyCurve,
}

fn default_base() -> Zkpow {
    Zkpow::from_zkpow(1)
}

impl Default for BountyParams {
    fn default() -> Self {
        Self {
            base: default_base(),
            aggregation_base: None,
            wrap_base: None,
            age: AgeCurve::default(),
            supply: SupplyCurve::default(),
        }
    }
}

/// Where rewards come from. Each block the reward pool receives `issuance_per_block` (minted)
/// and `fee_share` of the block's fees (which would otherwise stay burned). Rewards are paid from
/// the pool; if it runs dry the shortfall is minted and reported, so liveness never waits on funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingParams {
    /// Minted into the pool every block.
    #[serde(default = "default_issuance")]
    pub issuance_per_block: Zkpow,
    /// Fraction of each block's fees moved into the pool (0 to 1).
    #[serde(default = "default_fee_share")]
    pub fee_share: Factor,
}

fn default_issuance() -> Zkpow {
    Zkpow::from_zkpow(10)
}
fn default_fee_share() -> Factor {
    Factor::ONE
}

impl Default for FundingParams {
    fn default() -> Self {
        Self { issuance_per_block: default_issuance(), fee_share: default_fee_share() }
    }
}

/// All market parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketParams {
    /// A plugin is active while its last heartbeat is at most this many blocks old.
    #[serde(default = "default_heartbeat_window")]
    #[schemars(range(min = 2, max = WINDOW_BLOCKS_MAX))]
    pub heartbeat_window_blocks: u64,
    /// A proof must land within this many blocks of the assignment.
    #[serde(default = "default_deadline")]
    #[schemars(range(min = 1, max = WINDOW_BLOCKS_MAX))]
    pub proof_deadline_blocks: u64,
    /// Charged to an active plugin for each missed deadline (and each job it abandons). At most
    /// 1,000,000 ZKPOW, like every market amount.
    #[serde(default = "default_penalty")]
    pub penalty: Zkpow,
    /// A plugin whose market balance is below this gets no work until it repays.
    #[serde(default = "default_debt_limit")]
    pub debt_limit: SignedZkpow,
    /// Most jobs one plugin holds at once.
    #[serde(default = "default_jobs_per_plugin")]
    #[schemars(range(min = 1, max = JOBS_PER_PLUGIN_MAX))]
    pub jobs_per_plugin_max: u32,
    /// Who may prove a job after a missed deadline.
    #[serde(default)]
    pub after_deadline: AfterDeadline,
    /// A block's market transactions are proven in spans of at most this many (each span a job):
    /// every accepted proof is itself a market transaction of a later block, so one unbounded span
    /// per block would grow with the market's own activity.
    #[serde(default = "default_system_job_txs")]
    #[schemars(range(min = 1, max = SYSTEM_JOB_TXS_MAX))]
    pub system_job_txs_max: u32,
    /// Bounty curves.
    #[serde(default)]
    pub bounty: BountyParams,
    /// Reward funding.
    #[serde(default)]
    pub funding: FundingParams,
    /// Which jobs must carry a real proof.
    #[serde(default)]
    pub real_proofs: RealProofPolicy,
    /// Blocks per range wrapped for the L1 (at least; a range is extended until it holds a block
    /// with jobs). One `Wrap` job per range: longer ranges cost the L1 less per transaction and
    /// reach it later.
    #[serde(default = "default_wrap_range_blocks")]
    #[schemars(range(min = 1, max = WRAP_RANGE_BLOCKS_MAX))]
    pub wrap_range_blocks: u64,
    /// Excluding plugins that keep missing deadlines (none by default: a miss only keeps the
    /// plugin off the job it missed).
    #[serde(default)]
    pub exclusion: Option<ExclusionParams>,
    /// Bounty and deadline that grow with a tx job's gas (none by default: every tx job is priced
    /// and timed like a transfer).
    #[serde(default)]
    pub gas_scaling: Option<GasScaling>,
}

fn default_wrap_range_blocks() -> u64 {
    8
}

fn default_system_job_txs() -> u32 {
    16
}
fn default_heartbeat_window() -> u64 {
    150
}
fn default_deadline() -> u64 {
    20
}
fn default_penalty() -> Zkpow {
    Zkpow::from_zkpow(5)
}
fn default_debt_limit() -> SignedZkpow {
    SignedZkpow::from_zkpow(-50)
}
fn default_jobs_per_plugin() -> u32 {
    4
}

impl Default for MarketParams {
    fn default() -> Self {
        Self {
            heartbeat_window_blocks: default_heartbeat_window(),
            proof_deadline_blocks: default_deadline(),
            penalty: default_penalty(),
            debt_limit: default_debt_limit(),
            jobs_per_plugin_max: default_jobs_per_plugin(),
            after_deadline: AfterDeadline::default(),
            system_job_txs_max: default_system_job_txs(),
            bounty: BountyParams::default(),
            funding: FundingParams::default(),
            real_proofs: RealProofPolicy::default(),
            wrap_range_blocks: default_wrap_range_blocks(),
            exclusion: None,
            gas_scaling: None,
        }
    }
}

impl MarketParams {
    /// Checks the rules the market itself relies on, naming the broken one (a string, for
    /// [`Market::new`]). Markets built in code (tests, benchmarks) may go beyond the documented
    /// maxima of files where that is safe (e.g. "unlimited" jobs per plugin); files are loaded
    /// with [`Self::check`].
    ///
    /// [`Market::new`]: crate::Market::new
    pub fn validate(&self) -> Result<(), String> {
        self.check_rules().map_err(|invalid| invalid.to_string())
    }

    /// Checks the documented maxima and the rules, as a genesis or scenario file is loaded; each
    /// error names its value's path relative to the market mapping (`proof_deadline_blocks`,
    /// `bounty.age.cap`).
    pub fn check(&self) -> Result<(), Invalid> {
        let here = FieldPath::root();
        let amount = |key: FieldPath, value: Zkpow| check_at_most(&key, value, Zkpow::from_wei(MARKET_AMOUNT_WEI_MAX));
        check_at_most(&here.key("system_job_txs_max"), self.system_job_txs_max, SYSTEM_JOB_TXS_MAX)?;
        check_at_most(&here.key("jobs_per_plugin_max"), self.jobs_per_plugin_max, JOBS_PER_PLUGIN_MAX)?;
        amount(here.key("penalty"), self.penalty)?;
        if self.debt_limit.wei() < 0 && self.debt_limit.wei().unsigned_abs() > MARKET_AMOUNT_WEI_MAX {
            return Err(Invalid::new(
                here.key("debt_limit"),
                Problem::BelowMinimum {
                    value: self.debt_limit.to_string(),
                    min: format!("-{}", Zkpow::from_wei(MARKET_AMOUNT_WEI_MAX)),
                },
            ));
        }
        amount(here.key("bounty").key("base"), self.bounty.base)?;
        if let Some(base) = self.bounty.aggregation_base {
            amount(here.key("bounty").key("aggregation_base"), base)?;
        }
        if let Some(base) = self.bounty.wrap_base {
            amount(here.key("bounty").key("wrap_base"), base)?;
        }
        amount(here.key("funding").key("issuance_per_block"), self.funding.issuance_per_block)?;
        self.check_rules()
    }

    /// The rules the market relies on, including the bounds that keep its block arithmetic far
    /// from overflow (windows, curve block counts).
    fn check_rules(&self) -> Result<(), Invalid> {
        let here = FieldPath::root();
        check_between(&here.key("proof_deadline_blocks"), self.proof_deadline_blocks, 1, WINDOW_BLOCKS_MAX)?;
        check_at_most(&here.key("heartbeat_window_blocks"), self.heartbeat_window_blocks, WINDOW_BLOCKS_MAX)?;
        if self.heartbeat_window_blocks <= self.proof_deadline_blocks {
            return Err(Invalid::rule(
                here.key("heartbeat_window_blocks"),
                format!(
                    "{} does not exceed proof_deadline_blocks ({})",
                    self.heartbeat_window_blocks, self.proof_deadline_blocks
                ),
                "a window longer than the deadline: a plugin is only given a job if it stays active until \
                 the job's deadline",
            )
            .related(here.key("proof_deadline_blocks")));
        }
        check_at_least(&here.key("system_job_txs_max"), self.system_job_txs_max, 1)?;
        check_between(&here.key("wrap_range_blocks"), self.wrap_range_blocks, 1, WRAP_RANGE_BLOCKS_MAX)?;
        check_at_least(&here.key("jobs_per_plugin_max"), self.jobs_per_plugin_max, 1)?;
        if let RealProofPolicy::Sampled { sample_rate, .. } = self.real_proofs {
            check_at_most(&here.key("real_proofs").key("sampled").key("sample_rate"), sample_rate, Factor::ONE)?;
        }
        if self.debt_limit.wei() > 0 {
            return Err(Invalid::rule(
                here.key("debt_limit"),
                format!("{} is positive", self.debt_limit),
                "zero or a negative amount (how far into debt a plugin may go)",
            ));
        }
        check_at_most(&here.key("funding").key("fee_share"), self.funding.fee_share, Factor::ONE)?;
        if let Some(exclusion) = &self.exclusion {
            let at = here.key("exclusion");
            check_between(&at.key("misses"), exclusion.misses, 1, EXCLUSION_MISSES_MAX)?;
            check_between(&at.key("window_blocks"), exclusion.window_blocks, 1, WINDOW_BLOCKS_MAX)?;
            check_between(&at.key("exclude_blocks"), exclusion.exclude_blocks, 1, WINDOW_BLOCKS_MAX)?;
        }
        if let Some(scaling) = &self.gas_scaling {
            let at = here.key("gas_scaling");
            check_at_most(&at.key("bounty_per_mgas"), scaling.bounty_per_mgas, GAS_BOUNTY_PER_MGAS_MAX)?;
            check_at_most(
                &at.key("deadline_blocks_per_mgas"),
                scaling.deadline_blocks_per_mgas,
                GAS_DEADLINE_BLOCKS_PER_MGAS_MAX,
            )?;
        }
        self.bounty.age.check().map_err(|e| e.within(&here.key("bounty").key("age")))?;
        self.bounty.supply.check().map_err(|e| e.within(&here.key("bounty").key("supply")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule and maximum names the offending field's path; a cross-field rule names the window
    /// and relates the deadline; the defaults pass.
    #[test]
    fn check_names_paths() {
        assert!(MarketParams::default().check().is_ok());
        let broken = |change: &dyn Fn(&mut MarketParams)| {
            let mut params = MarketParams::default();
            change(&mut params);
            params.check().unwrap_err()
        };
        let error = broken(&|p| p.proof_deadline_blocks = 200);
        assert_eq!(error.path.to_string(), "heartbeat_window_blocks");
        assert_eq!(error.related[0].to_string(), "proof_deadline_blocks");
        assert_eq!(broken(&|p| p.proof_deadline_blocks = u64::MAX).path.to_string(), "proof_deadline_blocks");
        assert_eq!(broken(&|p| p.heartbeat_window_blocks = u64::MAX).path.to_string(), "heartbeat_window_blocks");
        assert_eq!(broken(&|p| p.jobs_per_plugin_max = 0).path.to_string(), "jobs_per_plugin_max");
        assert_eq!(broken(&|p| p.jobs_per_plugin_max = u32::MAX).path.to_string(), "jobs_per_plugin_max");
        assert_eq!(broken(&|p| p.system_job_txs_max = u32::MAX).path.to_string(), "system_job_txs_max");
        assert_eq!(broken(&|p| p.penalty = Zkpow::from_wei(u128::MAX)).path.to_string(), "penalty");
        assert_eq!(broken(&|p| p.debt_limit = SignedZkpow::from_zkpow(1)).path.to_string(), "debt_limit");
        assert_eq!(broken(&|p| p.debt_limit = SignedZkpow::from_zkpow(-2_000_000)).path.to_string(), "debt_limit");
        let error = broken(&|p| p.bounty.aggregation_base = Some(Zkpow::from_zkpow(2_000_000)));
        assert_eq!(error.path.to_string(), "bounty.aggregation_base");
        assert!(matches!(error.problem, Problem::AboveMaximum { .. }), "{error}");
        let error = broken(&|p| p.funding.issuance_per_block = Zkpow::from_zkpow(1_000_001));
        assert_eq!(error.path.to_string(), "funding.issuance_per_block");
        let error = broken(&|p| p.bounty.supply.target_active = u64::MAX);
        assert_eq!(error.path.to_string(), "bounty.supply.target_active");
        let error = broken(&|p| p.bounty.age = AgeCurve::Linear { per_block: Factor::ONE, cap: Factor::ZERO });
        assert_eq!(error.path.to_string(), "bounty.age.cap");
        let exclusion = ExclusionParams { misses: 2, window_blocks: 100, exclude_blocks: 50 };
        let error = broken(&|p| p.exclusion = Some(ExclusionParams { misses: 17, ..exclusion }));
        assert_eq!(error.path.to_string(), "exclusion.misses");
        let error = broken(&|p| p.exclusion = Some(ExclusionParams { exclude_blocks: 0, ..exclusion }));
        assert_eq!(error.path.to_string(), "exclusion.exclude_blocks");
        assert!(MarketParams { exclusion: Some(exclusion), ..MarketParams::default() }.check().is_ok());
        assert!(MarketParams::default().validate().is_ok());
        // Markets built in code may exceed the files' maxima where the market stays safe.
        let unlimited = MarketParams { jobs_per_plugin_max: 1_000_000, ..MarketParams::default() };
        assert!(unlimited.validate().is_ok());
        assert_eq!(unlimited.check().unwrap_err().path.to_string(), "jobs_per_plugin_max");
    }
}
