//! The proving market: a deterministic state machine inside the node, advanced by market calls in
//! transactions and once per block, with all of its state committed in the header's market root.
//! No I/O, no clock, no OS randomness: time is the block number, randomness the parent hash.
//!
//! # Rules
//!
//! 1. **Plugins** join with `register()`, stay **active** by `heartbeat()` (a transaction, so it
//!    costs gas) at least every `heartbeat_window_blocks`, and leave with `goInactive()`. They
//!    `withdraw(amount)` a positive market balance to their native balance and `repay()` debt with
//!    attached value (see [`IZkcrowdMarket`]).
//! 2. **Jobs**: at the end of each block, one job per user transaction (in order) and one for the
//!    block's market transactions as a span (the builder places them last), each naming the ledger
//!    roots around it. They are the leaves of the block's binary **aggregation tree**: as soon as two
//!    sibling nodes are proven an aggregation job for their parent is created (a lone last node rises
//!    unchanged). The proof of the root makes the block **fully proven**.
//! 3. **Assignment**, at the end of each block: open jobs in id order, each to a plugin drawn
//!    uniformly from the address-sorted **eligible** set by `keccak256(parent_hash ‖ job_id ‖ attempt)`.
//!    Eligible: not gone inactive; heartbeat recent enough to stay active until the job's deadline;
//!    market balance at or above `debt_limit`; fewer than `jobs_per_plugin_max` jobs held. Plugins that
//!    missed the job are excluded while anyone else is eligible, and the last one always.
//! 4. **Proofs** arrive in `submitProof` calls and are accepted only from the assignee up to its
//!    deadline (or, with `after_deadline: open`, from any active plugin once the job has missed a
//!    deadline), only if the public inputs bind the sender's address and the job's roots and
//!    commitment, and only if the [`ProofVerifier`] accepts the proof.
//! 5. **Deadlines**: a proof counts in blocks up to `assignment + proof_deadline_blocks`. At the end
//!    of that block an unproven job costs its assignee `penalty` (burned; balances may go negative)
//!    and is reassigned with `attempt + 1`. Going inactive while holding jobs costs the same per job.
//!    An inactive plugin is never assigned and never charged.
//! 6. **Bounties**: `base × age_factor × supply_factor` (see [`curve`]), paid from a reward pool funded
//!    by `issuance_per_block` and `fee_share` of fees; a shortfall is minted and reported.
//! 7. **Ranges and wraps** (for the L1): consecutive blocks form **ranges** of
//!    `wrap_range_blocks` blocks, a range extended block by block until it holds at least one block
//!    with jobs (a proof needs something to prove). Once a range has closed, the root proofs of its
//!    blocks with jobs are the leaves of the range's aggregation tree (`RangeAggregate` jobs, paired
//!    exactly like a block's tree); the proof of its root gets one **`Wrap`** job, which turns it
//!    into the proof the L1 verifies, bound to the range's record (chain id, first and last block,
//!    the wrap's prover; [`WrapRecord`]). Its acceptance emits `RangeWrapped`: the range is ready
//!    for `Rollup.submitRange`. Both kinds are assigned, paid (`bounty.aggregation_base`,
//!    `bounty.wrap_base`) and penalised like any job; ranges are wrapped in any order, the L1
//!    accepts them in order. Two parts of a range that do not chain (the ledger changed between
//!    blocks outside every job, which no honest chain does) make it unprovable: an event says so
//!    and the range is never wrapped.
//! 8. **Events**: every change emits a [`MarketEvent`].
//!
//! # Liveness bound
//!
//! If an honest plugin (one that proves every job it is given within the deadline) stays eligible
//! with spare capacity, every job is proven within `(F + 1) × (proof_deadline_blocks + 1)` blocks of
//! its creation, where `F` is the number of other eligible plugins: each miss excludes the missing
//! plugin from later draws of that job, so after at most `F` misses the draw can only pick the honest
//! plugin. (A tested property: see `tests/properties.rs`.)

mod call;
pub mod curve;
mod errors;
mod events;
mod market;
mod params;
mod statement;

pub use call::{IZkcrowdMarket, MarketCall, SubmittedInputs};
pub use curve::{
    ADJUSTMENT_QUOTIENT_MAX, AgeCurve, CURVE_BLOCKS_MAX, FACTOR_MAX, Factor, PPM, STEPS_MAX, Step, SupplyCurve,
    TARGET_ACTIVE_MAX,
};
pub use errors::{CallError, ProofRejection, PublicInput};
pub use events::{EventKind, JobId, JobKind, MarketEvent, MissReason, job_kind_wire};
pub use market::{
    Accounts, CallOutcome, JOB_TREE_DEPTH, Job, JobStatus, Market, MarketQuote, NewJob, PLUGIN_TREE_DEPTH, Plugin,
    PluginId, QUOTE_OPEN_JOBS_MAX, draw,
};
pub use params::{
    AfterDeadline, BountyParams, EXCLUSION_MISSES_MAX, ExclusionParams, FundingParams, GAS_BOUNTY_PER_MGAS_MAX,
    GAS_DEADLINE_BLOCKS_PER_MGAS_MAX, GasScaling, JOBS_PER_PLUGIN_MAX, MARKET_AMOUNT_WEI_MAX, MarketParams,
    RealProofPolicy, SYSTEM_JOB_TXS_MAX, WINDOW_BLOCKS_MAX, WRAP_RANGE_BLOCKS_MAX,
};
pub use statement::{
    CALL_COMMITMENT_TAG, ModeledVerifier, ProofData, ProofKind, ProofVerifier, Statement, TRANSFER_COMMITMENT_TAG,
    WrapRecord, binds_effect, call_commitment, combine_commitments, hash_limbs, modeled_binding, transfer_commitment,
    tx_commitment,
};
