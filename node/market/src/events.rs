//! Every state change of the market is an event. The simulator's metrics, tables and run digest
//! are built from these, in order.

use alloy::primitives::{Address, B256};
use serde::Serialize;
use zkcrowd_primitives::{BlockNumber, SignedZkpow, Zkpow};

use crate::errors::{CallError, ProofRejection};
use crate::statement::ProofKind;

/// A job's identifier: its position in creation order.
pub type JobId = u64;

/// What a job proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum JobKind {
    /// One user transaction.
    Tx {
        /// Its block.
        block: BlockNumber,
        /// Its index in the block.
        index: u32,
    },
    /// A span of consecutive market (system) transactions of a block (at most
    /// `system_job_txs_max` of them).
    System {
        /// Its block.
        block: BlockNumber,
        /// How many transactions.
        txs: u32,
    },
    /// Two adjacent proven spans of one block.
    Aggregate {
        /// Its block.
        block: BlockNumber,
        /// Height in the block's tree (1 = pairs of leaves).
        level: u8,
        /// Left child.
        left: JobId,
        /// Right child.
        right: JobId,
    },
    /// Two adjacent proven parts of a range of blocks (see [`crate::MarketParams::wrap_range_blocks`]):
    /// at level 1 the root proofs of two of its blocks, above that aggregates of them.
    RangeAggregate {
        /// The range's first block.
        first: BlockNumber,
        /// Height in the range's tree (1 = pairs of block roots).
        level: u8,
        /// Left child.
        left: JobId,
        /// Right child.
        right: JobId,
    },
    /// The wrap of a range's root proof into the proof the L1 verifies, bound to the range's
    /// record (chain id, first and last block, the prover).
    Wrap {
        /// The range's first block.
        first: BlockNumber,
        /// The range's last block.
        last: BlockNumber,
        /// The job whose proof covers the whole range.
        root: JobId,
    },
}

impl JobKind {
    /// The block the job belongs to: a range's jobs belong to its first block.
    pub fn block(&self) -> BlockNumber {
        match self {
            Self::Tx { block, .. } | Self::System { block, .. } | Self::Aggregate { block, .. } => *block,
            Self::RangeAggregate { first, .. } | Self::Wrap { first, .. } => *first,
        }
    }

    /// Whether the job is part of a range (its aggregation or its wrap), not of one block.
    pub fn is_range(&self) -> bool {
        matches!(self, Self::RangeAggregate { .. } | Self::Wrap { .. })
    }

    /// A short name for tables: `tx`, `span`, `aggregate`, `range_aggregate`, `wrap`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tx { .. } => "tx",
            Self::System { .. } => "span",
            Self::Aggregate { .. } => "aggregate",
            Self::RangeAggregate { .. } => "range_aggregate",
            Self::Wrap { .. } => "wrap",
        }
    }
}

/// Serde for a [`JobKind`] in binary formats (the wire codec): `#[serde(with =
/// "zkcrowd_market::job_kind_wire")]`. The event log's JSON tags a job kind with a `type` field,
/// which only self-describing formats can read back; this form names the variant by position.
pub mod job_kind_wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{BlockNumber, JobId, JobKind};

    /// [`JobKind`]'s variants, externally tagged. Converted both ways with exhaustive matches, so
    /// a new variant cannot be forgotten here.
    #[derive(Serialize, Deserialize)]
    enum Wire {
        Tx(BlockNumber, u32),
        System(BlockNumber, u32),
        Aggregate(BlockNumber, u8, JobId, JobId),
        RangeAggregate(BlockNumber, u8, JobId, JobId),
        Wrap(BlockNumber, BlockNumber, JobId),
    }

    /// Serializes the kind.
    pub fn serialize<S: Serializer>(kind: &JobKind, serializer: S) -> Result<S::Ok, S::Error> {
        match *kind {
            JobKind::Tx { block, index } => Wire::Tx(block, index),
            JobKind::System { block, txs } => Wire::System(block, txs),
            JobKind::Aggregate { block, level, left, right } => Wire::Aggregate(block, level, left, right),
            JobKind::RangeAggregate { first, level, left, right } => Wire::RangeAggregate(first, level, left, right),
            JobKind::Wrap { first, last, root } => Wire::Wrap(first, last, root),
        }
        .serialize(serializer)
    }

    /// Deserializes a kind.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<JobKind, D::Error> {
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Tx(block, index) => JobKind::Tx { block, index },
            Wire::System(block, txs) => JobKind::System { block, txs },
            Wire::Aggregate(block, level, left, right) => JobKind::Aggregate { block, level, left, right },
            Wire::RangeAggregate(first, level, left, right) => JobKind::RangeAggregate { first, level, left, right },
            Wire::Wrap(first, last, root) => JobKind::Wrap { first, last, root },
        })
    }
}

/// Why a job left its assignee without a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    /// The deadline passed.
    Deadline,
    /// The assignee went inactive holding it.
    Abandoned,
}

/// A market event, stamped with the block it happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketEvent {
    /// Block height.
    pub block: BlockNumber,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum EventKind {
    /// A plugin joined.
    Registered {
        /// The plugin.
        plugin: Address,
    },
    /// A plugin heartbeated.
    Heartbeat {
        /// The plugin.
        plugin: Address,
    },
    /// A plugin went inactive by its own call.
    WentInactive {
        /// The plugin.
        plugin: Address,
        /// Jobs it still held (each charged as missed).
        jobs_abandoned: u32,
    },
    /// Market balance moved to native.
    Withdrawn {
        /// The plugin.
        plugin: Address,
        /// How much.
        amount: Zkpow,
    },
    /// Native balance moved into the market.
    Repaid {
        /// The plugin.
        plugin: Address,
        /// How much.
        amount: Zkpow,
    },
    /// A market call was refused.
    CallRejected {
        /// The sender.
        sender: Address,
        /// Why.
        reason: CallError,
    },
    /// A job was created.
    JobCreated {
        /// The job.
        job: JobId,
        /// What it proves.
        kind: JobKind,
    },
    /// A job was assigned.
    JobAssigned {
        /// The job.
        job: JobId,
        /// The assignee.
        plugin: Address,
        /// 0 for the first assignment.
        attempt: u32,
        /// Last block in which its proof is accepted.
        deadline_block: BlockNumber,
    },
    /// An assignee missed a job.
    JobMissed {
        /// The job.
        job: JobId,
        /// The assignee.
        plugin: Address,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        reason: MissReason,
    },
    /// A plugin missed `misses` deadlines within the exclusion policy's window: no new jobs for it
    /// before `until_block` ([`crate::ExclusionParams`]).
    PluginExcluded {
        /// The plugin.
        plugin: Address,
        /// The first block in which it may be assigned again.
        until_block: BlockNumber,
    },
    /// A penalty was charged (and burned).
    PenaltyCharged {
        /// The plugin.
        plugin: Address,
        /// The job missed.
        job: JobId,
        /// How much.
        amount: Zkpow,
        /// The plugin's market balance afterwards.
        balance: SignedZkpow,
    },
    /// A proof was accepted.
    ProofAccepted {
        /// The job.
        job: JobId,
        /// The prover.
        prover: Address,
        /// Real (plonky2, verified) or modeled.
        proof: ProofKind,
        /// Blocks from the job's creation to this proof.
        age_blocks: u64,
    },
    /// A proof was rejected.
    ProofRejected {
        /// The job.
        job: JobId,
        /// The submitter.
        submitter: Address,
        /// Why.
        reason: ProofRejection,
    },
    /// A bounty was paid.
    RewardPaid {
        /// The prover.
        plugin: Address,
        /// The job.
        job: JobId,
        /// How much.
        amount: Zkpow,
    },
    /// The reward pool was funded for this block.
    PoolFunded {
        /// Minted.
        issuance: Zkpow,
        /// From this block's fees.
        fees: Zkpow,
        /// Pool balance afterwards.
        pool: Zkpow,
    },
    /// A reward exceeded the pool; the difference was minted.
    ShortfallMinted {
        /// How much.
        amount: Zkpow,
    },
    /// Every transaction of a block is proven by one root proof.
    BlockFullyProven {
        /// The block.
        block_number: BlockNumber,
        /// The job whose proof covers the whole block (none for a block without transactions).
        root_job: Option<JobId>,
    },
    /// Two adjacent parts of a range do not chain (the ledger changed between them outside every
    /// job): the range can never be proven, aggregated or wrapped.
    RangeUnprovable {
        /// The range's first block.
        first_block: BlockNumber,
        /// The left part's job.
        left_job: JobId,
        /// The right part's job.
        right_job: JobId,
        /// Where the left part ends.
        left_post_root: B256,
        /// Where the right part starts.
        right_pre_root: B256,
    },
    /// A range of blocks is wrapped: its wrap job's proof is accepted, and the range is ready for
    /// the L1 (`Rollup.submitRange` with these fields and the accepted proof).
    RangeWrapped {
        /// The range's first block.
        first_block: BlockNumber,
        /// Its last block.
        last_block: BlockNumber,
        /// The wrap job.
        job: JobId,
        /// Its prover (bound by the wrapped proof).
        prover: Address,
        /// Ledger root before the range.
        pre_root: B256,
        /// Ledger root after it.
        post_root: B256,
        /// Commitment to its transactions.
        commitment: B256,
        /// Real (the wrapped plonky2 proof, verified) or modeled.
        proof: ProofKind,
    },
}
