//! Market parameters: part of the genesis (every validator must agree on them) and of scenarios.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zkcrowd_primitives::{SignedZkpow, Zkpow};

use crate::curve::{AgeCurve, Factor, SupplyCurve};

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

/// How a job's bounty is computed: `base × age.factor(age) × supply.factor(active)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BountyParams {
    /// Base bounty of a tx job (and of the per-block system job).
    #[serde(default = "default_base")]
    pub base: Zkpow,
    /// Base bounty of an aggregation job (defaults to `base`).
    #[serde(default)]
    pub aggregation_base: Option<Zkpow>,
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
        Self { base: default_base(), aggregation_base: None, age: AgeCurve::default(), supply: SupplyCurve::default() }
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
    pub heartbeat_window_blocks: u64,
    /// A proof must land within this many blocks of the assignment.
    #[serde(default = "default_deadline")]
    pub proof_deadline_blocks: u64,
    /// Charged to an active plugin for each missed deadline (and each job it abandons).
    #[serde(default = "default_penalty")]
    pub penalty: Zkpow,
    /// A plugin whose market balance is below this gets no work until it repays.
    #[serde(default = "default_debt_limit")]
    pub debt_limit: SignedZkpow,
    /// Most jobs one plugin holds at once.
    #[serde(default = "default_jobs_per_plugin")]
    pub jobs_per_plugin_max: u32,
    /// Who may prove a job after a missed deadline.
    #[serde(default)]
    pub after_deadline: AfterDeadline,
    /// A block's market transactions are proven in spans of at most this many (each span a job):
    /// every accepted proof is itself a market transaction of a later block, so one unbounded span
    /// per block would grow with the market's own activity.
    #[serde(default = "default_system_job_txs")]
    pub system_job_txs_max: u32,
    /// Bounty curves.
    #[serde(default)]
    pub bounty: BountyParams,
    /// Reward funding.
    #[serde(default)]
    pub funding: FundingParams,
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
        }
    }
}

impl MarketParams {
    /// Checks the rules the market relies on, naming the broken one.
    pub fn validate(&self) -> Result<(), String> {
        if self.proof_deadline_blocks == 0 {
            return Err("proof_deadline_blocks must be at least 1".into());
        }
        if self.heartbeat_window_blocks <= self.proof_deadline_blocks {
            return Err(format!(
                "heartbeat_window_blocks ({}) must exceed proof_deadline_blocks ({}): a plugin is only \
                 given a job if it stays active until the job's deadline",
                self.heartbeat_window_blocks, self.proof_deadline_blocks
            ));
        }
        if self.system_job_txs_max == 0 {
            return Err("system_job_txs_max must be at least 1".into());
        }
        if self.jobs_per_plugin_max == 0 {
            return Err("jobs_per_plugin_max must be at least 1".into());
        }
        if self.debt_limit.wei() > 0 {
            return Err(format!("debt_limit {} must not be positive", self.debt_limit));
        }
        if self.funding.fee_share > Factor::ONE {
            return Err(format!("funding.fee_share {} must be between 0 and 1", self.funding.fee_share));
        }
        self.bounty.age.validate().map_err(|e| format!("bounty.age: {e}"))?;
        self.bounty.supply.validate().map_err(|e| format!("bounty.supply: {e}"))
    }
}
