//! Submission agents: the slot schedule, the range a submission carries, the signer, and an
//! agent's honest loop ([`Submitter`]) with its sending over an [`AgentLink`].
//!
//! The schedule mirrors `Rollup.sol`: slot = (timestamp − genesis) / slot_seconds, owner =
//! agents[slot mod n]. An agent submits only in its own slots; a slot its owner misses passes to
//! the next agent simply because the next slot has another owner.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use crate::backend::L1Error;
use crate::contract::{IRollup, RevertReason, decode_revert, modeled_proof_record, range_binding};

/// Gas limit of a `submitRange` transaction: ~3.8M with a wrapped proof (docs/benchmarks.md), ~0.1M
/// with a modeled record.
pub const SUBMIT_GAS_LIMIT: u64 = 6_000_000;
/// Fee cap of agent transactions, wei per gas (anvil's base fee starts at 1 gwei and falls).
pub const MAX_FEE_PER_GAS: u128 = 20_000_000_000;

/// A wrapped range of L2 blocks, ready for L1: `Rollup.submitRange`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRange {
    /// The L2 chain's id (the Rollup's `l2ChainId`, bound by the proof).
    pub chain_id: u64,
    /// First L2 block.
    pub first: u64,
    /// Last L2 block.
    pub last: u64,
    /// Ledger root before the range (the previous range's post root).
    pub pre_root: B256,
    /// Ledger root after the range.
    pub post_root: B256,
    /// Commitment to the range's transactions.
    pub tx_commitment: B256,
    /// The plugin that proved the wrap (bound by the proof).
    pub prover: Address,
    /// The proof the verifier checks.
    pub proof: Bytes,
}

impl ProvenRange {
    /// A range whose proof is the **modeled** proof record (accepted only by the simulation-only
    /// `ModeledProofVerifier`).
    #[allow(clippy::too_many_arguments, reason = "the Rollup's arguments, named at every call")]
    pub fn modeled(
        chain_id: u64,
        first: u64,
        last: u64,
        pre_root: B256,
        post_root: B256,
        tx_commitment: B256,
        prover: Address,
    ) -> Self {
        let mut range = Self { chain_id, first, last, pre_root, post_root, tx_commitment, prover, proof: Bytes::new() };
        range.proof = modeled_proof_record(&range.public_inputs());
        range
    }

    /// The verifier's public inputs (`Rollup.rangeInputs`'s order).
    pub fn public_inputs(&self) -> [B256; 4] {
        [
            self.pre_root,
            self.post_root,
            self.tx_commitment,
            range_binding(self.chain_id, self.first, self.last, self.prover),
        ]
    }

    /// `submitRange` calldata.
    pub fn calldata(&self) -> Bytes {
        IRollup::submitRangeCall {
            first: self.first,
            last: self.last,
            preRoot: self.pre_root,
            postRoot: self.post_root,
            txCommitment: self.tx_commitment,
            prover: self.prover,
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

    /// Signs `submitRange(range)` to `rollup`.
    pub fn sign_submit(&mut self, rollup: Address, range: &ProvenRange) -> TxEnvelope {
        self.sign(Some(rollup), range.calldata(), SUBMIT_GAS_LIMIT)
    }

    /// Takes back the nonce of a transaction the L1 never received.
    pub fn unsend(&mut self) {
        self.nonce -= 1;
    }
}

/// How a submission ended, from its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The Rollup accepted the range; the gas it cost.
    Accepted {
        /// Its first L2 block.
        first: u64,
        /// Its last L2 block.
        last: u64,
        /// L1 gas used.
        gas_used: u64,
    },
    /// The Rollup reverted; the decoded reason. The range stays queued for the agent's next slot.
    Reverted {
        /// Its first L2 block.
        first: u64,
        /// Its last L2 block.
        last: u64,
        /// L1 gas used.
        gas_used: u64,
        /// The decoded revert reason.
        reason: RevertReason,
    },
}

/// Why a submission never reached the L1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotSent {
    /// The L1 could not be reached in any of the agent's bounded attempts.
    Unavailable {
        /// Attempts made.
        attempts: u32,
    },
    /// The L1 node refused the transaction (bad nonce, underpriced, …), with its description.
    Refused(String),
    /// Any other failure, with its description.
    Failed(String),
}

impl NotSent {
    /// The failure of the last of `attempts` tries to send.
    pub fn from_error(error: &L1Error, attempts: u32) -> Self {
        match error {
            L1Error::Unavailable(_) => Self::Unavailable { attempts },
            L1Error::Refused(detail) => Self::Refused(detail.clone()),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// What became of one submission, for event logs: serialized by name (`"accepted"`,
/// `{"reverted": {"wrong_pre_root": …}}`, `{"not_sent": {"unavailable": {"attempts": 3}}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionOutcome {
    /// The Rollup accepted the range.
    Accepted,
    /// The Rollup reverted.
    Reverted(RevertReason),
    /// The transaction never reached the L1.
    NotSent(NotSent),
}

impl SubmissionOutcome {
    /// The outcome's class without its arguments (`accepted`, `reverted: WrongPreRoot`,
    /// `not sent: L1 unavailable`), for counting.
    pub fn class(&self) -> String {
        match self {
            Self::Accepted => "accepted".to_owned(),
            Self::Reverted(reason) => format!("reverted: {}", reason.name()),
            Self::NotSent(NotSent::Unavailable { .. }) => "not sent: L1 unavailable".to_owned(),
            Self::NotSent(NotSent::Refused(_)) => "not sent: L1 refused".to_owned(),
            Self::NotSent(NotSent::Failed(_)) => "not sent: failed".to_owned(),
        }
    }
}

/// One agent's honest submission loop, sans I/O (docs/protocol.md §1, steps 9-10). The caller owns time
/// and the L1 connection:
/// 1. [`Submitter::due`] with the next L1 block's timestamp and the wrapped ranges the L1 lacks
///    (contiguous from its proven head): in the agent's own slot, signed `submitRange` transactions
///    for those not already in flight, at most `max_per_l1_block`; outside it, nothing (waiting for
///    the slot).
/// 2. A send that fails is retried while [`Submitter::retry`] allows (bounded attempts); then the
///    agent gives up until its next slot and [`Submitter::unsent`] takes back the unsent nonces.
/// 3. [`Submitter::on_receipt`] confirms: accepted (with gas) or reverted (with the reason; the
///    range is submitted again in a later slot).
#[derive(Debug, Clone)]
pub struct Submitter {
    agent: SubmissionAgent,
    index: usize,
    schedule: Schedule,
    rollup: Address,
    max_per_l1_block: usize,
    attempts: u32,
    /// Transaction hash → the range (first, last), sent and not yet mined.
    in_flight: std::collections::BTreeMap<B256, (u64, u64)>,
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
    pub fn due(&mut self, timestamp: u64, pending: &[ProvenRange]) -> Vec<((u64, u64), TxEnvelope)> {
        if !self.owns_slot_at(timestamp) {
            return Vec::new();
        }
        let in_flight: std::collections::BTreeSet<(u64, u64)> = self.in_flight.values().copied().collect();
        pending
            .iter()
            .filter(|r| !in_flight.contains(&(r.first, r.last)))
            .take(self.max_per_l1_block)
            .map(|r| ((r.first, r.last), self.agent.sign_submit(self.rollup, r)))
            .collect()
    }

    /// Records a transaction (of range `(first, last)`) that reached the L1's pool.
    pub fn sent(&mut self, hash: B256, range: (u64, u64)) {
        self.in_flight.insert(hash, range);
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
        let (first, last) = self.in_flight.remove(&receipt.tx_hash)?;
        Some(if receipt.success {
            Submitted::Accepted { first, last, gas_used: receipt.gas_used }
        } else {
            let reason = decode_revert(&receipt.revert_data);
            Submitted::Reverted { first, last, gas_used: receipt.gas_used, reason }
        })
    }

    /// Hashes of the transactions sent and not yet confirmed.
    pub fn in_flight(&self) -> Vec<B256> {
        self.in_flight.keys().copied().collect()
    }

    /// Forgets a transaction the L1 dropped from its pool without mining it: its range becomes
    /// due again.
    pub fn forget(&mut self, hash: &B256) {
        self.in_flight.remove(hash);
    }

    /// The agent's signer (adversarial simulations sign their own transactions with it).
    pub fn agent_mut(&mut self) -> &mut SubmissionAgent {
        &mut self.agent
    }

    /// Bounded attempts per slot.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Sends `txs` (from [`Submitter::due`], or an adversary's own) in order over `link`: each
    /// unavailable send is retried after the link's back-off while [`Submitter::retry`] allows. The
    /// first that fails for good ends the slot: it and the later ones take their nonces back
    /// ([`Submitter::unsent`]) and the range it carried is returned with the reason.
    pub async fn send_all<L: AgentLink>(
        &mut self,
        txs: Vec<((u64, u64), TxEnvelope)>,
        link: &mut L,
    ) -> Option<((u64, u64), NotSent)> {
        let count = txs.len();
        for (position, (range, tx)) in txs.into_iter().enumerate() {
            let mut attempt = 1;
            let failure = loop {
                match link.send(&tx) {
                    Ok(hash) => {
                        self.sent(hash, range);
                        break None;
                    }
                    Err(L1Error::Unavailable(_)) if self.retry(attempt) => {
                        attempt += 1;
                        link.backoff().await;
                    }
                    Err(error) => break Some(error),
                }
            };
            if let Some(error) = failure {
                self.unsent(count - position);
                return Some((range, NotSent::from_error(&error, attempt)));
            }
        }
        None
    }
}

/// An agent's connection to the L1, for [`Submitter::send_all`]: the simulator's is the lockstep
/// backend (with the scenario's outages), a process's is a JSON-RPC provider.
pub trait AgentLink {
    /// Sends a signed transaction to the L1's pool; its hash.
    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error>;
    /// Waits before the next attempt.
    fn backoff(&mut self) -> impl Future<Output = ()>;
}
