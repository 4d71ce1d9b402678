//! The client protocol: what users and proving plugins say to a validator and hear back.
//!
//! Every message crosses the network as a frame of the wire codec ([`codec`]), the simulator's
//! included; the testnet maps the client protocol onto Ethereum JSON-RPC as well
//! (`eth_sendRawTransaction`, `eth_getTransactionCount`, subscriptions).

use std::sync::Arc;
pub use zkcrowd_primitives::tx::{TxPacket, TxRejection};

use serde::{Deserialize, Serialize};

use alloy::primitives::{Address, B256, Bytes, U256};
use zkcrowd_ledger::{Digest, LeafWrite};
use zkcrowd_market::{JobId, JobKind, MarketQuote, Statement};
use zkcrowd_primitives::{BlockNumber, SignedZkpow};

pub mod codec;

pub use codec::{Codec, DecodeError, WIRE_VERSION, decode, encode};

/// An opaque identifier of a client connection, chosen by the transport.
pub type ClientId = u64;

/// Client → validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum ClientRequest {
    /// Submit a signed transaction (with its proof sidecar, if any).
    SubmitTx(TxPacket),
    /// Receive this plugin's assignments (and, with `watch_proofs`, every proof submission this
    /// validator admits).
    Subscribe {
        /// The plugin.
        plugin: Address,
        /// Also receive [`ClientMessage::ProofSeen`].
        watch_proofs: bool,
    },
    /// Stop receiving assignments.
    Unsubscribe {
        /// The plugin.
        plugin: Address,
    },
    /// Ask for an account's nonce and balances.
    GetAccount {
        /// The account.
        address: Address,
    },
    /// Ask for a plugin's current assignments.
    GetAssignments {
        /// The plugin.
        plugin: Address,
    },
    /// Ask what became of a transaction (like `eth_getTransactionReceipt`), answered with
    /// [`ClientMessage::TxStatus`] from the validator's own chain and mempool.
    GetTransaction {
        /// The tx hash.
        hash: B256,
    },
    /// Is the validator there, and does it still push this plugin's assignments? Answered with
    /// [`ClientMessage::Keepalive`]. A plugin that hears nothing for a while switches validator; one
    /// that learns it is no longer subscribed (the validator restarted) subscribes again.
    Keepalive {
        /// The plugin.
        plugin: Address,
    },
    /// What would taking part pay now? Answered with [`ClientMessage::Quote`] (a price-driven
    /// plugin asks even while it is not taking part).
    GetQuote,
}

/// Why a mempool refused a transaction that is valid against the head state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum MempoolError {
    /// Already in the pool.
    #[error("already known")]
    Known,
    /// The sender already has a pending transaction with this nonce.
    #[error("nonce {nonce} already pending for this sender (replacement is not supported)")]
    NonceTaken {
        /// The nonce.
        nonce: u64,
    },
    /// Nonce below the sender's state nonce.
    #[error("nonce too low: account nonce is {expected}, tx nonce is {got}")]
    NonceTooLow {
        /// State nonce.
        expected: u64,
        /// Tx nonce.
        got: u64,
    },
    /// Nonce too far ahead of the state nonce.
    #[error("nonce {got} is more than {ahead_max} ahead of the account nonce {expected}")]
    NonceTooFarAhead {
        /// State nonce.
        expected: u64,
        /// Tx nonce.
        got: u64,
        /// How far ahead the pool queues.
        ahead_max: u64,
    },
    /// The pool is full.
    #[error("mempool full ({capacity} transactions)")]
    Full {
        /// The pool's capacity.
        capacity: usize,
    },
    /// Admitted once, then dropped from the pool: it could no longer be included.
    #[error("evicted: {0}")]
    Evicted(Eviction),
}

/// Why an admitted transaction left a mempool without being included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Eviction {
    /// The block builder refused the sender's tx with nonce `refused`, so this later one can no
    /// longer be included.
    #[error("follows the refused nonce {refused}")]
    FollowsRefused {
        /// The refused nonce.
        refused: u64,
    },
    /// It waited too many blocks behind a missing nonce.
    #[error("waited {blocks} blocks behind the missing nonce {missing}")]
    NonceGap {
        /// The nonce the sender's queue waited for.
        missing: u64,
        /// How long it waited (the bound).
        blocks: u64,
    },
}

/// Why a validator refused a transaction, or dropped it from its mempool. Clients branch on the
/// variant; the event log serializes it by name (`{"mempool": "known"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum TxRefusal {
    /// Invalid: malformed, badly signed, or not valid against the head state (or refused by the
    /// block builder).
    #[error("{0}")]
    Invalid(TxRejection),
    /// Valid, but the mempool does not take it.
    #[error("{0}")]
    Mempool(MempoolError),
}

impl TxRefusal {
    /// The tx's nonce conflicts with the sender's count (used, taken, or too far ahead): a client
    /// whose count drifted resyncs its nonce and signs the call again.
    pub fn is_nonce_conflict(&self) -> bool {
        matches!(
            self,
            Self::Invalid(TxRejection::NonceTooLow { .. } | TxRejection::NonceGap { .. })
                | Self::Mempool(
                    MempoolError::NonceTooLow { .. }
                        | MempoolError::NonceTaken { .. }
                        | MempoolError::NonceTooFarAhead { .. }
                )
        )
    }

    /// Refused for now, not for good: the pool was full, the tx was evicted behind a gap, or its
    /// fee cap fell below a base fee that rose while it waited. The same call, signed again with
    /// a fresh nonce and a fee priced at the current base fee, may well be taken.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Mempool(MempoolError::Full { .. } | MempoolError::Evicted(_))
                | Self::Invalid(TxRejection::FeeCapBelowBaseFee { .. })
        )
    }

    /// The validator already holds this very tx: it is pending (or was, and may be committed).
    pub fn is_known(&self) -> bool {
        matches!(self, Self::Mempool(MempoolError::Known))
    }
}

impl From<TxRejection> for TxRefusal {
    fn from(rejection: TxRejection) -> Self {
        Self::Invalid(rejection)
    }
}

impl From<MempoolError> for TxRefusal {
    fn from(error: MempoolError) -> Self {
        Self::Mempool(error)
    }
}

/// What a validator knows of a transaction ([`ClientMessage::TxStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// In a committed block of this validator's chain.
    Committed {
        /// The block.
        block: BlockNumber,
        /// Its receipt status.
        success: bool,
    },
    /// In this validator's mempool.
    Pending,
    /// Neither: never received, refused, dropped, or committed longer ago than the validator's
    /// receipt index reaches.
    Unknown,
}

/// A job assigned to a plugin, with what it must prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The job.
    pub job: JobId,
    /// What it proves.
    #[serde(with = "zkcrowd_market::job_kind_wire")]
    pub kind: JobKind,
    /// Ledger root before.
    #[serde(with = "zkcrowd_ledger::digest_serde")]
    pub pre_root: Digest,
    /// Ledger root after.
    #[serde(with = "zkcrowd_ledger::digest_serde")]
    pub post_root: Digest,
    /// Commitment to the transactions.
    #[serde(with = "zkcrowd_ledger::digest_serde")]
    pub commitment: Digest,
    /// Block in which the job was created.
    pub created_block: BlockNumber,
    /// Last block whose proofs count.
    pub deadline_block: BlockNumber,
    /// What a real prover needs (the witness, or the children's real proofs), when the validator
    /// serves witnesses and the job has one: `None` for jobs no shipped circuit proves (contract
    /// calls) and for aggregates with a modeled child.
    pub inputs: Option<Arc<JobInputs>>,
    /// The chain refuses a modeled proof record for this job: it needs a real proof
    /// (`zkcrowd_market::RealProofPolicy`).
    pub real_required: bool,
    /// Gas its transaction used (tx jobs; 0 otherwise): proving time grows with it.
    pub gas_used: u64,
}

/// The private inputs of a job's real proof, as the validator that executed the block knows them.
/// (In a deployment a plugin fetches these from a validator; they are public chain data.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum JobInputs {
    /// A transfer: its two ledger writes in the order the chain made them (address order).
    Transfer {
        /// The tx hash.
        tx_hash: B256,
        /// Value moved, in wei.
        value_wei: u128,
        /// Fee burned, in wei.
        fee_wei: u128,
        /// Sender and receiver writes, lower address first.
        writes: [LeafWrite; 2],
    },
    /// A span of market calls: one write each, the sender's.
    Span {
        /// The calls in order.
        calls: Vec<CallInputs>,
    },
    /// An aggregate whose children were both proven by real proofs (of one block, or of a range).
    Aggregate {
        /// The left child's accepted proof bytes.
        left: Bytes,
        /// The right child's accepted proof bytes.
        right: Bytes,
    },
    /// A range's wrap: its root proof and the record the wrapped proof binds (with the prover).
    Wrap {
        /// The accepted proof bytes of the range's root.
        root: Bytes,
        /// The L2 chain's id.
        chain_id: u64,
        /// The range's first block.
        first_block: u64,
        /// Its last block.
        last_block: u64,
    },
}

/// One market call of a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInputs {
    /// The tx hash.
    pub tx_hash: B256,
    /// Net amount taken from the sender's balance (value and fee), in wei.
    pub debit_wei: u128,
    /// Net amount paid to the sender's balance (a withdrawal net of the fee), in wei.
    pub credit_wei: u128,
    /// The sender's write.
    pub write: LeafWrite,
}

/// Validator → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "a message is moved once per delivery and never stored in bulk: boxing the large variant would add an allocation per message and save no memory"
)]
pub enum ClientMessage {
    /// The transaction is in the mempool.
    TxAccepted {
        /// Its hash.
        hash: B256,
    },
    /// The transaction was refused (or dropped from the mempool), with why.
    TxRejected {
        /// Its hash.
        hash: B256,
        /// Why.
        reason: TxRefusal,
    },
    /// The transaction is in a committed block.
    TxCommitted {
        /// Its hash.
        hash: B256,
        /// The block.
        block: BlockNumber,
        /// Its receipt status (a market call can fail after execution).
        success: bool,
    },
    /// An account's state at the head.
    Account {
        /// The account.
        address: Address,
        /// Next nonce (including this validator's pending transactions from it).
        nonce: u64,
        /// Native balance.
        balance: U256,
        /// Market balance, if it is a registered plugin.
        market_balance: Option<SignedZkpow>,
        /// The head's number.
        head: BlockNumber,
        /// The next block's base fee (wei per gas): what a tx sent now must at least offer.
        base_fee_per_gas: u64,
    },
    /// New or current assignments of a plugin.
    Assignments {
        /// The plugin.
        plugin: Address,
        /// The jobs.
        jobs: Vec<Assignment>,
        /// The full list (a reply to subscribe or get-assignments) rather than new jobs only.
        complete: bool,
        /// The head's number when sent.
        head: BlockNumber,
        /// Active plugins at the head (for bounty estimates).
        active_plugins: u64,
    },
    /// A proof submission admitted to the mempool (to watchers).
    ProofSeen {
        /// The transaction, with its sidecar.
        tx: TxPacket,
    },
    /// The answer to [`ClientRequest::GetTransaction`].
    TxStatus {
        /// The tx hash.
        hash: B256,
        /// What the validator knows of it.
        status: TxStatus,
        /// The head's number when answered.
        head: BlockNumber,
    },
    /// The answer to [`ClientRequest::Keepalive`].
    Keepalive {
        /// The plugin asked about.
        plugin: Address,
        /// Whether this validator pushes the plugin's assignments (false after a restart).
        subscribed: bool,
        /// How many jobs the plugin holds on this validator's chain: a plugin that knows fewer
        /// missed a push (a lost message) and asks for the complete list.
        jobs: u32,
        /// The head's number when answered.
        head: BlockNumber,
        /// The next block's base fee (wei per gas), for pricing the plugin's next transactions.
        base_fee_per_gas: u64,
    },
    /// The answer to [`ClientRequest::GetQuote`]: the market at the validator's head.
    Quote(MarketQuote),
}

impl Assignment {
    /// The statement `prover` must prove for this job.
    pub fn statement(&self, prover: Address) -> Statement {
        Statement {
            pre_root: self.pre_root,
            post_root: self.post_root,
            commitment: self.commitment,
            job_id: self.job,
            prover,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Wire limits (see [`codec`]): the largest frame of each message kind.

/// Frame bytes around a payload's fields (version, kind, lengths, small fields).
const FRAME_OVERHEAD_BYTES: usize = 256;

/// A transaction with its sidecar: the chain's largest raw transaction and largest sidecar.
pub const TX_PACKET_BYTES_MAX: usize =
    zkcrowd_primitives::tx::TX_SIZE_BYTES_MAX + zkcrowd_primitives::tx::SIDECAR_BYTES_MAX + FRAME_OVERHEAD_BYTES;

/// A request or message of fixed-size fields only (addresses, hashes, numbers).
pub const SMALL_MESSAGE_BYTES_MAX: usize = FRAME_OVERHEAD_BYTES;

/// A refusal: its reason may carry a decoder's or the EVM's description.
pub const TX_REJECTED_BYTES_MAX: usize = 64 * 1024;

/// One assignment with the largest inputs: an aggregate's two child proofs (each at most a
/// sidecar), or a span's calls (at most `SYSTEM_JOB_TXS_MAX` ledger writes of ~1 KB, smaller).
pub const ASSIGNMENT_BYTES_MAX: usize = 2 * zkcrowd_primitives::tx::SIDECAR_BYTES_MAX + 4 * 1024;

/// A plugin's assignments: at most `JOBS_PER_PLUGIN_MAX` jobs, the market's bound on what one
/// plugin holds (a complete list) or receives in one block (new jobs).
pub const ASSIGNMENTS_BYTES_MAX: usize =
    zkcrowd_market::JOBS_PER_PLUGIN_MAX as usize * ASSIGNMENT_BYTES_MAX + FRAME_OVERHEAD_BYTES;

impl Codec for ClientRequest {
    const FAMILY: &'static str = "client request";

    fn kind(&self) -> u8 {
        match self {
            Self::SubmitTx(_) => 0,
            Self::Subscribe { .. } => 1,
            Self::Unsubscribe { .. } => 2,
            Self::GetAccount { .. } => 3,
            Self::GetAssignments { .. } => 4,
            Self::GetTransaction { .. } => 5,
            Self::Keepalive { .. } => 6,
            Self::GetQuote => 7,
        }
    }

    fn bytes_max(kind: u8) -> Option<usize> {
        match kind {
            0 => Some(TX_PACKET_BYTES_MAX),
            1..=7 => Some(SMALL_MESSAGE_BYTES_MAX),
            _ => None,
        }
    }

    fn kind_name(kind: u8) -> &'static str {
        [
            "submit_tx",
            "subscribe",
            "unsubscribe",
            "get_account",
            "get_assignments",
            "get_transaction",
            "keepalive",
            "get_quote",
        ]
        .get(usize::from(kind))
        .copied()
        .unwrap_or("unknown")
    }
}

impl Codec for ClientMessage {
    const FAMILY: &'static str = "client message";

    fn kind(&self) -> u8 {
        match self {
            Self::TxAccepted { .. } => 0,
            Self::TxRejected { .. } => 1,
            Self::TxCommitted { .. } => 2,
            Self::Account { .. } => 3,
            Self::Assignments { .. } => 4,
            Self::ProofSeen { .. } => 5,
            Self::TxStatus { .. } => 6,
            Self::Keepalive { .. } => 7,
            Self::Quote(_) => 8,
        }
    }

    fn bytes_max(kind: u8) -> Option<usize> {
        match kind {
            1 => Some(TX_REJECTED_BYTES_MAX),
            4 => Some(ASSIGNMENTS_BYTES_MAX),
            5 => Some(TX_PACKET_BYTES_MAX),
            0 | 2 | 3 | 6 | 7 | 8 => Some(SMALL_MESSAGE_BYTES_MAX),
            _ => None,
        }
    }

    fn kind_name(kind: u8) -> &'static str {
        [
            "tx_accepted",
            "tx_rejected",
            "tx_committed",
            "account",
            "assignments",
            "proof_seen",
            "tx_status",
            "keepalive",
            "quote",
        ]
        .get(usize::from(kind))
        .copied()
        .unwrap_or("unknown")
    }
}

/// What a validator's `zkcrowd_chainParams` JSON-RPC method answers: what a plugin's cadence
/// follows (the process plugin and the browser plugin both read it before starting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainParams {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Target block time, ms.
    pub block_time_ms: u64,
    /// A plugin is active while its last heartbeat is this recent.
    pub heartbeat_window_blocks: u64,
    /// Blocks a plugin has to prove an assigned job.
    pub proof_deadline_blocks: u64,
    /// Base fee of the head block, wei.
    pub base_fee_wei: u128,
    /// Which jobs need a real proof (`none`, `all`, or a sample).
    pub real_proofs: String,
}
