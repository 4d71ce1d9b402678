//! A validator process's L1 submission agent: posts its own chain's wrapped ranges to the `Rollup`
//! on a live L1 (a testnet's anvil, mining a block every second) in its own slots.
//!
//! The decisions are [`Submitter`]'s, the same as in the simulator: the slot rule, at most
//! [`RANGES_PER_SLOT_MAX`] ranges per L1 block, bounded retries ([`SEND_ATTEMPTS`]) over an
//! [`AgentLink`], confirmation by receipt. This module supplies the time and the connection: every
//! [`POLL_MS`] it reads the L1's latest block and the Rollup's proven head, confirms what was
//! mined, and, for the next block's timestamp, sends what is due. What it saw goes to
//! `zkcrowd_status` ([`L1View`]).
//!
//! A transaction the L1 has not mined after [`IN_FLIGHT_BLOCKS_MAX`] of its blocks is forgotten
//! (its range is due again in a later slot, with a fresh nonce read from the L1).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use alloy::consensus::TxEnvelope;
use alloy::eips::Encodable2718;
use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use zkcrowd_l1::contract::IRollup;
use zkcrowd_l1::{AgentLink, L1Error, L1Rpc, ProvenRange, Schedule, SubmissionAgent, Submitted, Submitter};
use zkcrowd_node::Node;

use crate::rpc::L1View;

/// How often the agent looks at the L1.
pub const POLL_MS: u64 = 1_000;
/// Ranges sent in one slot, at most.
pub const RANGES_PER_SLOT_MAX: usize = 4;
/// Attempts to send one transaction before the slot is given up.
pub const SEND_ATTEMPTS: u32 = 3;
/// Wait between two attempts.
pub const SEND_BACKOFF_MS: u64 = 300;
/// L1 blocks a sent transaction may stay unmined before the agent forgets it.
pub const IN_FLIGHT_BLOCKS_MAX: u64 = 30;

/// A validator's L1 agent configuration (in its `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L1Config {
    /// The L1's JSON-RPC URL (HTTP).
    pub url: String,
    /// The L1's chain id.
    pub chain_id: u64,
    /// The Rollup contract.
    pub rollup: Address,
    /// The verifier the Rollup calls.
    pub verifier: Address,
    /// Timestamp of slot 0 (the deployment block's).
    pub genesis_time: u64,
    /// Slot length, seconds.
    pub slot_seconds: u64,
    /// Every agent, in the Rollup's schedule order (agent `i` is validator `i`'s).
    pub agents: Vec<Address>,
    /// The file holding this validator's agent key (hex).
    pub key_file: PathBuf,
}

/// The agent's link: the L1's JSON-RPC, blocking this task's thread for each send (the
/// [`AgentLink`] contract is synchronous; the process runtime has other threads).
struct ProcessLink<'a> {
    rpc: &'a L1Rpc,
}

impl AgentLink for ProcessLink<'_> {
    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error> {
        let raw = Bytes::from(tx.encoded_2718());
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| handle.block_on(self.rpc.send(raw)))
    }

    async fn backoff(&mut self) {
        tokio::time::sleep(Duration::from_millis(SEND_BACKOFF_MS)).await;
    }
}

/// The wrapped ranges after `after` that `node`'s chain has, contiguous, at most `max`.
pub fn pending_ranges(node: &Node, chain_id: u64, after: u64, max: usize) -> Vec<ProvenRange> {
    node.wrapped_ranges(after, max)
        .into_iter()
        .map(|r| {
            let modeled = ProvenRange::modeled(
                chain_id,
                r.first_block,
                r.last_block,
                r.pre_root,
                r.post_root,
                r.commitment,
                r.prover,
            );
            match r.proof {
                Some(proof) => ProvenRange { proof, ..modeled },
                None => modeled,
            }
        })
        .collect()
}

/// Starts validator `index`'s agent for `node` (its chain's id `l2_chain_id`); it runs until
/// `cancel`.
pub fn spawn_agent(
    config: L1Config,
    key: PrivateKeySigner,
    index: usize,
    node: Arc<Mutex<Node>>,
    view: Arc<RwLock<Option<L1View>>>,
    cancel: CancellationToken,
) -> Result<(), L1Error> {
    let rpc = L1Rpc::new(&config.url)?;
    let schedule = Schedule {
        genesis_time: config.genesis_time,
        slot_seconds: config.slot_seconds,
        agents: config.agents.clone(),
    };
    if schedule.agents.get(index) != Some(&key.address()) {
        return Err(L1Error::Deploy(format!("the agent key is not agent {index} of the Rollup's schedule")));
    }
    tokio::spawn(async move {
        let l2_chain_id = node.lock().expect("node lock").chain().spec().chain_id;
        let mut agent = Agent { rpc, config, key, index, schedule, submitter: None, sent_at: Default::default() };
        let mut seen = L1View::default();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
            }
            match agent.step(&node, l2_chain_id, &mut seen).await {
                Ok(()) => *view.write().expect("l1 view lock") = Some(seen),
                Err(error) => tracing::warn!(agent = index, "L1: {error}"),
            }
        }
    });
    Ok(())
}

struct Agent {
    rpc: L1Rpc,
    config: L1Config,
    key: PrivateKeySigner,
    index: usize,
    schedule: Schedule,
    /// Built once the L1 answered the agent's nonce; dropped (and rebuilt) after a failed slot.
    submitter: Option<Submitter>,
    /// L1 block at which each in-flight transaction was sent.
    sent_at: std::collections::BTreeMap<B256, u64>,
}

impl Agent {
    async fn step(&mut self, node: &Mutex<Node>, l2_chain_id: u64, seen: &mut L1View) -> Result<(), L1Error> {
        let (block, timestamp) = self.rpc.latest().await?;
        seen.block = block;
        let head = IRollup::provenHeadCall {}.abi_encode();
        let output = self.rpc.call(self.config.rollup, head.into()).await?;
        let head = IRollup::provenHeadCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))?;
        seen.proven_head = head.number;
        if self.submitter.is_none() {
            let nonce = self.rpc.pending_nonce(self.key.address()).await?;
            let agent = SubmissionAgent::new(self.key.clone(), self.config.chain_id, nonce);
            self.submitter = Some(Submitter::new(
                agent,
                self.index,
                self.schedule.clone(),
                self.config.rollup,
                RANGES_PER_SLOT_MAX,
                SEND_ATTEMPTS,
            ));
        }
        let submitter = self.submitter.as_mut().expect("built above");
        for hash in submitter.in_flight() {
            match self.rpc.receipt(hash).await? {
                Some(receipt) => {
                    self.sent_at.remove(&hash);
                    match submitter.on_receipt(&receipt) {
                        Some(Submitted::Accepted { first, last, gas_used }) => {
                            seen.accepted += 1;
                            tracing::info!(agent = self.index, first, last, gas_used, "L1 accepted the range");
                        }
                        Some(Submitted::Reverted { first, last, reason, .. }) => {
                            seen.reverted += 1;
                            tracing::warn!(agent = self.index, first, last, reason = ?reason, "L1 reverted the range");
                        }
                        None => {}
                    }
                }
                None if self.sent_at.get(&hash).is_some_and(|&at| block > at + IN_FLIGHT_BLOCKS_MAX) => {
                    tracing::warn!(agent = self.index, %hash, "L1 did not mine the submission; sending again later");
                    // The nonce may be a gap now: read it afresh from the L1 (and forget what
                    // the dropped submitter had in flight).
                    self.sent_at.clear();
                    self.submitter = None;
                    return Ok(());
                }
                None => {}
            }
        }
        let pending = pending_ranges(&node.lock().expect("node lock"), l2_chain_id, head.number, RANGES_PER_SLOT_MAX);
        // The next block's timestamp (one block a second).
        let txs = submitter.due(timestamp + 1, &pending);
        if txs.is_empty() {
            return Ok(());
        }
        let hashes: Vec<B256> = txs.iter().map(|(_, tx)| *tx.tx_hash()).collect();
        let mut link = ProcessLink { rpc: &self.rpc };
        let failed = submitter.send_all(txs, &mut link).await;
        for hash in hashes.into_iter().filter(|h| submitter.in_flight().contains(h)) {
            self.sent_at.insert(hash, block);
        }
        if let Some(((first, last), why)) = failed {
            tracing::warn!(agent = self.index, first, last, ?why, "L1: submission not sent");
            self.sent_at.clear();
            self.submitter = None;
        }
        Ok(())
    }
}
