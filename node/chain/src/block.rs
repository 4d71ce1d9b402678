//! Blocks, headers, receipts and the per-transaction record the proving market works from.

use alloy::consensus::{
    EMPTY_OMMER_ROOT_HASH, Header as EthHeader, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope, TxType,
};
use alloy::eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy::primitives::{Address, B256, Bloom, Bytes, Log, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use serde::{Deserialize, Serialize};
use zkcrowd_ledger::LeafWrite;
use zkcrowd_primitives::{BlockNumber, FEE_BURN_ADDRESS};

/// Length of the zkcrowd fields in `extra_data`: proposer (20) ‖ ledger root (32) ‖ market root (32).
pub const EXTRA_DATA_BYTES: usize = 20 + 32 + 32;

/// A block header. Its hash is the hash of the equivalent Ethereum header ([`Self::to_ethereum`]),
/// so Ethereum tools can verify blocks; the zkcrowd fields (proposer, ledger root, market root)
/// travel in `extra_data`, and the beneficiary is always the fee burn address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Hash of the parent block.
    pub parent_hash: B256,
    /// Height.
    pub number: BlockNumber,
    /// Seconds (simulated time in a simulation).
    pub timestamp: u64,
    /// The validator that proposed the block.
    pub proposer: Address,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// EIP-1559 base fee, in wei.
    pub base_fee_per_gas: u64,
    /// Ordered trie root of the transactions.
    pub transactions_root: B256,
    /// Ordered trie root of the receipts.
    pub receipts_root: B256,
    /// Bloom of all logs.
    pub logs_bloom: Bloom,
    /// Ethereum MPT state root after the block.
    pub state_root: B256,
    /// Poseidon ledger root after the block.
    pub ledger_root: B256,
    /// Market state root after the block.
    pub market_root: B256,
    /// Randomness for the EVM's PREVRANDAO: `keccak256(parent_hash)`.
    pub prev_randao: B256,
}

impl BlockHeader {
    /// The Ethereum header this header is (Prague fields, empty withdrawals and requests).
    pub fn to_ethereum(&self) -> EthHeader {
        let mut extra = Vec::with_capacity(EXTRA_DATA_BYTES);
        extra.extend_from_slice(self.proposer.as_slice());
        extra.extend_from_slice(self.ledger_root.as_slice());
        extra.extend_from_slice(self.market_root.as_slice());
        EthHeader {
            parent_hash: self.parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: FEE_BURN_ADDRESS,
            state_root: self.state_root,
            transactions_root: self.transactions_root,
            receipts_root: self.receipts_root,
            logs_bloom: self.logs_bloom,
            difficulty: U256::ZERO,
            number: self.number,
            gas_limit: self.gas_limit,
            gas_used: self.gas_used,
            timestamp: self.timestamp,
            extra_data: Bytes::from(extra),
            mix_hash: self.prev_randao,
            nonce: Default::default(),
            base_fee_per_gas: Some(self.base_fee_per_gas),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }

    /// Reads a header back from its Ethereum form; `None` if it is not a zkcrowd header.
    pub fn from_ethereum(header: &EthHeader) -> Option<Self> {
        if header.extra_data.len() != EXTRA_DATA_BYTES || header.beneficiary != FEE_BURN_ADDRESS {
            return None;
        }
        let extra = &header.extra_data;
        Some(Self {
            parent_hash: header.parent_hash,
            number: header.number,
            timestamp: header.timestamp,
            proposer: Address::from_slice(&extra[..20]),
            gas_limit: header.gas_limit,
            gas_used: header.gas_used,
            base_fee_per_gas: header.base_fee_per_gas?,
            transactions_root: header.transactions_root,
            receipts_root: header.receipts_root,
            logs_bloom: header.logs_bloom,
            state_root: header.state_root,
            ledger_root: B256::from_slice(&extra[20..52]),
            market_root: B256::from_slice(&extra[52..84]),
            prev_randao: header.mix_hash,
        })
    }

    /// The block hash: keccak of the RLP of the Ethereum header.
    pub fn hash(&self) -> B256 {
        self.to_ethereum().hash_slow()
    }
}

/// A block: header, transactions and the sidecars of its proof submissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order (on the wire: their EIP-2718 bytes).
    #[serde(with = "crate::tx::envelope_serde::list")]
    pub transactions: Vec<TxEnvelope>,
    /// Real proofs carried beside transactions (see [`crate::TxPacket`]), by ascending tx index.
    /// Not covered by the header hash: a different sidecar gives a different verdict, so a block
    /// with a wrong one fails import on its receipts and market roots.
    pub sidecars: Vec<Sidecar>,
}

/// The sidecar of the block's transaction `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Index of the transaction in the block.
    pub index: u32,
    /// The proof bytes.
    pub bytes: Bytes,
}

/// What kind of transaction was executed; decides which circuit can prove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// A value transfer to an account without code and with empty calldata: provable by the
    /// ledger transfer circuit.
    Transfer,
    /// A call to a contract (or with calldata): EVM execution the shipped circuit cannot prove.
    ContractCall,
    /// A contract creation.
    ContractCreate,
    /// A call to a reserved system address (the proving market).
    System,
}

/// One committed transaction with the commitments around it: the unit of work of a tx job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxRecord {
    /// Block height.
    pub block_number: BlockNumber,
    /// Position in the block.
    pub index: u32,
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender.
    pub sender: Address,
    /// Recipient (`None` for a creation).
    pub to: Option<Address>,
    /// Value moved, in wei.
    pub value: U256,
    /// Sender's nonce used by the tx.
    pub nonce: u64,
    /// What the tx did.
    pub kind: TxKind,
    /// EIP-658 status: executed without revert or halt.
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Fee paid and burned: `gas_used × effective_gas_price`, in wei.
    pub fee_wei: u128,
    /// MPT state root before the tx.
    pub pre_state_root: B256,
    /// MPT state root after the tx.
    pub post_state_root: B256,
    /// Ledger root before the tx.
    pub pre_ledger_root: B256,
    /// Ledger root after the tx.
    pub post_ledger_root: B256,
    /// The four roots are those of the span of market transactions containing this one (market
    /// transactions are proven in spans of `system_job_txs_max`, so the roots between them are
    /// never needed and not computed). Always false for user transactions.
    pub span_roots: bool,
    /// The tx's Poseidon commitment as its job binds it (see [`zkcrowd_market::transfer_commitment`],
    /// [`zkcrowd_market::call_commitment`], [`zkcrowd_market::tx_commitment`]).
    pub commitment: B256,
    /// The ledger leaves the tx wrote, in order, with their Merkle paths: the witness of its
    /// proof. Empty unless the chain records witnesses ([`crate::ChainState::set_record_witnesses`]).
    #[serde(skip)]
    pub ledger_writes: Vec<LeafWrite>,
}

/// Builds the typed receipt for a transaction.
pub fn receipt(tx_type: TxType, success: bool, cumulative_gas_used: u64, logs: Vec<Log>) -> ReceiptEnvelope {
    let receipt = Receipt { status: success.into(), cumulative_gas_used, logs };
    let with_bloom = ReceiptWithBloom::from(receipt);
    match tx_type {
        TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zkcrowd fields survive the trip through the Ethereum header, and every field moves
    /// the hash.
    #[test]
    fn ethereum_round_trip() {
        let header = BlockHeader {
            parent_hash: B256::repeat_byte(1),
            number: 5,
            timestamp: 10,
            proposer: Address::repeat_byte(2),
            gas_limit: 30_000_000,
            gas_used: 21_000,
            base_fee_per_gas: 7,
            transactions_root: B256::repeat_byte(3),
            receipts_root: B256::repeat_byte(4),
            logs_bloom: Bloom::ZERO,
            state_root: B256::repeat_byte(5),
            ledger_root: B256::repeat_byte(6),
            market_root: B256::repeat_byte(7),
            prev_randao: B256::repeat_byte(8),
        };
        assert_eq!(BlockHeader::from_ethereum(&header.to_ethereum()), Some(header.clone()));
        let mut other = header.clone();
        other.ledger_root = B256::repeat_byte(9);
        assert_ne!(other.hash(), header.hash());
        let mut other = header.clone();
        other.proposer = Address::repeat_byte(9);
        assert_ne!(other.hash(), header.hash());
    }
}
