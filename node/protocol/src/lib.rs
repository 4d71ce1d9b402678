//! The client protocol: what users and proving plugins say to a validator and hear back.
//!
//! The simulator passes these as values; the testnet issue maps them onto Ethereum JSON-RPC
//! (`eth_sendRawTransaction`, `eth_getTransactionCount`, subscriptions).

use std::sync::Arc;
pub use zkcrowd_chain::TxPacket;

use alloy::primitives::{Address, B256, Bytes, U256};
use zkcrowd_ledger::{Digest, LeafWrite};
use zkcrowd_market::{JobId, JobKind, Statement};
use zkcrowd_primitives::{BlockNumber, SignedZkpow};

/// An opaque identifier of a client connection, chosen by the transport.
pub type ClientId = u64;

/// Client → validator.
#[derive(Debug, Clone)]
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
}

/// A job assigned to a plugin, with what it must prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The job.
    pub job: JobId,
    /// What it proves.
    pub kind: JobKind,
    /// Ledger root before.
    pub pre_root: Digest,
    /// Ledger root after.
    pub post_root: Digest,
    /// Commitment to the transactions.
    pub commitment: Digest,
    /// Block in which the job was created.
    pub created_block: BlockNumber,
    /// Last block whose proofs count.
    pub deadline_block: BlockNumber,
    /// What a real prover needs (the witness, or the children's real proofs), when the validator
    /// serves witnesses and the job has one: `None` for jobs no shipped circuit proves (contract
    /// calls) and for aggregates with a modeled child.
    pub inputs: Option<Arc<JobInputs>>,
}

/// The private inputs of a job's real proof, as the validator that executed the block knows them.
/// (In a deployment a plugin fetches these from a validator; they are public chain data.)
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// An aggregate whose children were both proven by real proofs.
    Aggregate {
        /// The left child's accepted proof bytes.
        left: Bytes,
        /// The right child's accepted proof bytes.
        right: Bytes,
    },
}

/// One market call of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone)]
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
        reason: String,
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
