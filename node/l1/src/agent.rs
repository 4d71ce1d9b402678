//! Submission agents: the slot schedule, the block a submission carries, and the signer.
//!
//! The schedule mirrors `Rollup.sol`: slot = (timestamp − genesis) / slot_seconds, owner =
//! agents[slot mod n]. An agent submits only in its own slots; a slot its owner misses passes to
//! the next agent simply because the next slot has another owner.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use crate::contract::{IRollup, modeled_proof_record};

/// Gas limit of a `submitBlock` transaction (it uses ~100k; see docs/benchmarks.md).
pub const SUBMIT_GAS_LIMIT: u64 = 400_000;
/// Fee cap of agent transactions, wei per gas (anvil's base fee starts at 1 gwei and falls).
pub const MAX_FEE_PER_GAS: u128 = 20_000_000_000;

/// A fully proven L2 block, ready for L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenBlock {
    /// L2 block number.
    pub number: u64,
    /// Ledger root before the block (the previous block's post root).
    pub pre_root: B256,
    /// Ledger root after the block.
    pub post_root: B256,
    /// Commitment to the block's transactions.
    pub tx_commitment: B256,
    /// The plugin whose root proof covers the block (zero for a block without transactions).
    pub aggregator: Address,
    /// The proof the verifier checks.
    pub proof: Bytes,
}

impl ProvenBlock {
    /// A block whose proof is the **modeled** proof record (accepted only by the simulation-only
    /// `ModeledProofVerifier`).
    pub fn modeled(number: u64, pre_root: B256, post_root: B256, tx_commitment: B256, aggregator: Address) -> Self {
        let mut block = Self { number, pre_root, post_root, tx_commitment, aggregator, proof: Bytes::new() };
        block.proof = modeled_proof_record(&block.public_inputs());
        block
    }

    /// The verifier's public inputs (Rollup.publicInputs's order).
    pub fn public_inputs(&self) -> [B256; 4] {
        [self.pre_root, self.post_root, self.tx_commitment, self.aggregator.into_word()]
    }

    /// `submitBlock` calldata.
    pub fn calldata(&self) -> Bytes {
        IRollup::submitBlockCall {
            number: self.number,
            preRoot: self.pre_root,
            postRoot: self.post_root,
            txCommitment: self.tx_commitment,
            aggregator: self.aggregator,
            proof: self.proof.clone(),
        }
        .abi_encode()
        .into()
    }
}

/// The slot schedule (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Timestamp of slot 0 (the deployment block's).
    pub genesis_time: u64,
    /// Slot length, seconds.
    pub slot_seconds: u64,
    /// Agents in schedule order.
    pub agents: Vec<Address>,
}

impl Schedule {
    /// The slot of an L1 block with `timestamp`.
    pub fn slot_at(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis_time) / self.slot_seconds
    }

    /// The index (in `agents`) of the owner of `slot`.
    pub fn owner_index(&self, slot: u64) -> usize {
        (slot % self.agents.len() as u64) as usize
    }

    /// The owner of `slot`.
    pub fn owner(&self, slot: u64) -> Address {
        self.agents[self.owner_index(slot)]
    }
}

/// An agent's L1 account: signs transactions with consecutive nonces.
#[derive(Debug, Clone)]
pub struct SubmissionAgent {
    signer: PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
}

impl SubmissionAgent {
    /// An agent whose next nonce is `nonce`.
    pub fn new(signer: PrivateKeySigner, chain_id: u64, nonce: u64) -> Self {
        Self { signer, chain_id, nonce }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The nonce of its next transaction.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// Signs a transaction to `to` (or a creation) with the next nonce.
    pub fn sign(&mut self, to: Option<Address>, input: Bytes, gas_limit: u64) -> TxEnvelope {
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: 0,
            to: to.map_or(TxKind::Create, TxKind::Call),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let signature = self.signer.sign_transaction_sync(&mut tx).expect("a local key signs");
        self.nonce += 1;
        TxEnvelope::from(tx.into_signed(signature))
    }

    /// Signs `submitBlock(block)` to `rollup`.
    pub fn sign_submit(&mut self, rollup: Address, block: &ProvenBlock) -> TxEnvelope {
        self.sign(Some(rollup), block.calldata(), SUBMIT_GAS_LIMIT)
    }

    /// Takes back the nonce of a transaction the L1 never received.
    pub fn unsend(&mut self) {
        self.nonce -= 1;
    }
}
