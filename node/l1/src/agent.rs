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

/// How a submission ended, from its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The Rollup accepted the block; the gas it cost.
    Accepted {
        /// L2 block.
        block: u64,
        /// L1 gas used.
        gas_used: u64,
    },
    /// The Rollup reverted; the decoded reason. The block stays queued for the agent's next slot.
    Reverted {
        /// L2 block.
        block: u64,
        /// L1 gas used.
        gas_used: u64,
        /// The decoded revert reason.
        reason: String,
    },
}

/// One agent's honest submission loop, sans I/O (docs/protocol.md §1, steps 9-10). The caller owns time
/// and the L1 connection:
/// 1. [`Submitter::due`] with the next L1 block's timestamp and the fully proven blocks the L1 lacks
///    (contiguous from its proven head): in the agent's own slot, signed `submitBlock` transactions
///    for those not already in flight, at most `max_per_l1_block`; outside it, nothing (waiting for
///    the slot).
/// 2. A send that fails is retried while [`Submitter::retry`] allows (bounded attempts); then the
///    agent gives up until its next slot and [`Submitter::unsent`] takes back the unsent nonces.
/// 3. [`Submitter::on_receipt`] confirms: accepted (with gas) or reverted (with the reason; the
///    block is submitted again in a later slot).
#[derive(Debug, Clone)]
pub struct Submitter {
    agent: SubmissionAgent,
    index: usize,
    schedule: Schedule,
    rollup: Address,
    max_per_l1_block: usize,
    attempts: u32,
    /// Transaction hash → L2 block, sent and not yet mined.
    in_flight: std::collections::BTreeMap<B256, u64>,
}

impl Submitter {
    /// The loop of `agent`, which is `schedule.agents[index]`.
    pub fn new(
        agent: SubmissionAgent,
        index: usize,
        schedule: Schedule,
        rollup: Address,
        max_per_l1_block: usize,
        attempts: u32,
    ) -> Self {
        assert_eq!(schedule.agents.get(index), Some(&agent.address()), "the agent is the schedule's agent {index}");
        Self { agent, index, schedule, rollup, max_per_l1_block, attempts, in_flight: Default::default() }
    }

    /// Whether the agent owns the slot of an L1 block at `timestamp`.
    pub fn owns_slot_at(&self, timestamp: u64) -> bool {
        self.schedule.owner_index(self.schedule.slot_at(timestamp)) == self.index
    }

    /// Transactions to send for the L1 block at `timestamp` (see the type's documentation).
    pub fn due(&mut self, timestamp: u64, pending: &[ProvenBlock]) -> Vec<(u64, TxEnvelope)> {
        if !self.owns_slot_at(timestamp) {
            return Vec::new();
        }
        let in_flight: std::collections::BTreeSet<u64> = self.in_flight.values().copied().collect();
        pending
            .iter()
            .filter(|b| !in_flight.contains(&b.number))
            .take(self.max_per_l1_block)
            .map(|b| (b.number, self.agent.sign_submit(self.rollup, b)))
            .collect()
    }

    /// Records a transaction that reached the L1's pool.
    pub fn sent(&mut self, hash: B256, block: u64) {
        self.in_flight.insert(hash, block);
    }

    /// Whether a send that failed on attempt `attempt` (from 1) is tried again.
    pub fn retry(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// Takes back the nonces of the last `count` signed transactions, which never reached the L1.
    pub fn unsent(&mut self, count: usize) {
        for _ in 0..count {
            self.agent.unsend();
        }
    }

    /// Confirms a mined transaction; `None` if it is not this agent's.
    pub fn on_receipt(&mut self, receipt: &crate::L1Receipt) -> Option<Submitted> {
        let block = self.in_flight.remove(&receipt.tx_hash)?;
        Some(if receipt.success {
            Submitted::Accepted { block, gas_used: receipt.gas_used }
        } else {
            Submitted::Reverted {
                block,
                gas_used: receipt.gas_used,
                reason: crate::contract::revert_reason(&receipt.revert_data),
            }
        })
    }

    /// The agent's signer (adversarial simulations sign their own transactions with it).
    pub fn agent_mut(&mut self) -> &mut SubmissionAgent {
        &mut self.agent
    }

    /// Bounded attempts per slot.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}
