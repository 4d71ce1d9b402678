//! Why the market refused a call or a proof: typed, so callers branch on the variant and the event
//! log names it (`{"not_assignee": {"job": 4}}`), never on a message's wording.

use alloy::primitives::Address;
use serde::Serialize;
use zkcrowd_primitives::{SignedZkpow, Zkpow};

use crate::events::JobId;

/// Why a market call was refused (the tx's receipt then reports failure; any value is refunded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum CallError {
    /// The calldata is not a market call (the decoder's description).
    #[error("malformed call: {0}")]
    Malformed(String),
    /// Value on a call other than `repay()`.
    #[error("only repay() accepts value")]
    ValueNotAccepted,
    /// A sidecar on a call other than a proof submitted as a sidecar.
    #[error("a sidecar is only for a proof submitted as a sidecar")]
    UnexpectedSidecar,
    /// The sender is not a registered plugin.
    #[error("{sender} is not a registered plugin")]
    NotRegistered {
        /// The sender.
        sender: Address,
    },
    /// `register()` by a registered plugin.
    #[error("{sender} is already registered")]
    AlreadyRegistered {
        /// The sender.
        sender: Address,
    },
    /// Every plugin slot of the registry's tree is taken.
    #[error("the plugin registry is full")]
    RegistryFull,
    /// `goInactive()` by an inactive plugin.
    #[error("{sender} is already inactive")]
    AlreadyInactive {
        /// The sender.
        sender: Address,
    },
    /// `withdraw(0)`.
    #[error("withdraw needs a positive amount")]
    ZeroWithdrawal,
    /// `repay()` without value.
    #[error("repay needs a value")]
    ZeroRepayment,
    /// An amount above what a balance can hold.
    #[error("amount too large")]
    AmountTooLarge,
    /// A withdrawal above the market balance.
    #[error("market balance {balance} is below {amount}")]
    InsufficientMarketBalance {
        /// The plugin's market balance.
        balance: SignedZkpow,
        /// The amount asked for.
        amount: Zkpow,
    },
    /// A repayment that would overflow the market balance.
    #[error("market balance overflow")]
    BalanceOverflow,
    /// A proof submission was refused (also reported as [`crate::EventKind::ProofRejected`]).
    #[error("proof rejected: {0}")]
    ProofRejected(ProofRejection),
}

/// Which public input of a submission did not match the job's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicInput {
    /// The ledger root before.
    PreRoot,
    /// The ledger root after.
    PostRoot,
    /// The commitment to the job's transactions.
    Commitment,
}

impl std::fmt::Display for PublicInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PreRoot => "pre root",
            Self::PostRoot => "post root",
            Self::Commitment => "commitment",
        })
    }
}

/// Why a proof submission was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ProofRejection {
    /// The submitter is not a registered plugin.
    #[error("{sender} is not a registered plugin")]
    NotRegistered {
        /// The submitter.
        sender: Address,
    },
    /// No live job has this id (never created, or proven and pruned).
    #[error("job {job} is unknown or finished")]
    UnknownJob {
        /// The job.
        job: JobId,
    },
    /// The job already has an accepted proof.
    #[error("job {job} is already proven")]
    AlreadyProven {
        /// The job.
        job: JobId,
    },
    /// The public inputs name another job.
    #[error("public inputs name job {named}, not {job}")]
    WrongJob {
        /// The job submitted for.
        job: JobId,
        /// The job the inputs name.
        named: JobId,
    },
    /// The proof is bound to another prover (a copied proof).
    #[error("proof is bound to prover {prover}, not the sender {sender}")]
    WrongProver {
        /// The prover the inputs name.
        prover: Address,
        /// The submitter.
        sender: Address,
    },
    /// A root or the commitment differs from the job's.
    #[error("wrong {input}: the job's differs")]
    WrongInput {
        /// Which.
        input: PublicInput,
    },
    /// A modeled proof record for a job the chain requires a real proof of
    /// ([`crate::RealProofPolicy`]).
    #[error("job {job} needs a real proof; a modeled record is not accepted")]
    ModeledNotAllowed {
        /// The job.
        job: JobId,
    },
    /// The submitter was the assignee and its deadline passed.
    #[error("late: the sender's deadline for job {job} has passed")]
    Late {
        /// The job.
        job: JobId,
    },
    /// The submitter is not the job's assignee (and the job is not open to all).
    #[error("the sender is not the assignee of job {job}")]
    NotAssignee {
        /// The job.
        job: JobId,
    },
    /// The call says the proof is a sidecar, and the tx carried none.
    #[error("the proof's sidecar is missing")]
    SidecarMissing,
    /// The verifier refused the proof (its description).
    #[error("invalid proof: {0}")]
    InvalidProof(String),
}
