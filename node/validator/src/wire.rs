//! Messages between validators. (Client messages are in `zkcrowd-protocol`.)
//!
//! The simulator passes these as values; a network transport serializes them.

use alloy::primitives::B256;
use zkcrowd_chain::{Block, TxPacket};
use zkcrowd_consensus::{Message, Round, ValidatorIndex};
use zkcrowd_primitives::BlockNumber;

/// A committed block with its commit certificate: the validators whose precommits decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: B256,
    /// The round of the decision.
    pub round: Round,
    /// The precommitting validators (more than 2/3 of the stake).
    pub certificate: Vec<ValidatorIndex>,
}

/// Validator ↔ validator.
#[derive(Debug, Clone)]
pub enum PeerMessage {
    /// A consensus vote, or a proposal with its block (`block` is set for proposals).
    Consensus {
        /// The consensus message.
        message: Message,
        /// The proposed block, for `Message::Proposal`.
        block: Option<Box<Block>>,
    },
    /// Transactions admitted by the sender, forwarded so every proposer can include them.
    Txs(Vec<TxPacket>),
    /// "Send me committed blocks from this height on."
    SyncRequest {
        /// First height wanted.
        from_height: BlockNumber,
    },
    /// Committed blocks, in height order.
    SyncResponse {
        /// The blocks.
        blocks: Vec<CommittedBlock>,
    },
}
