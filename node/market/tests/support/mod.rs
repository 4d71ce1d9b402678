//! A harness that drives the market block by block, the way the chain does, with plugins that
//! follow simple behaviours. Shared by the property, rejection and fairness tests.

#![allow(dead_code, unreachable_pub, missing_docs, reason = "test support shared by several test files")]

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256, keccak256};
use plonky2::field::types::Field;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use zkcrowd_ledger::{Digest, F};
use zkcrowd_market::{
    EventKind, JobId, JobKind, JobStatus, Market, MarketCall, MarketEvent, MarketParams, ModeledVerifier, NewJob,
    ProofData, SubmittedInputs, tx_commitment,
};

/// What a simulated plugin does with the jobs it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Proves every job `delay_blocks` after assignment (must be within the deadline).
    Honest { delay_blocks: u64 },
    /// Never proves.
    Lazy,
}

pub fn plugin_address(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xa0;
    bytes[12..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from(bytes)
}

/// The ledger root after `n` transactions in the harness's fabricated history.
pub fn root(n: u64) -> Digest {
    PoseidonHash::hash_no_pad(&[F::from_canonical_u64(n)])
}

pub struct Harness {
    pub market: Market,
    pub parent: B256,
    pub txs: u64,
    pub behaviours: Vec<Behaviour>,
    /// Pending proof submissions: block → (plugin index, job).
    pub scheduled: BTreeMap<u64, Vec<(usize, JobId)>>,
    pub events: Vec<MarketEvent>,
    /// Extra calls to send in the next block: (sender, call, value).
    pub extra_calls: Vec<(Address, MarketCall, U256)>,
    /// Outcomes of the last block's calls, in order.
    pub last_results: Vec<Result<(), zkcrowd_market::CallError>>,
    /// Whether the user-tx jobs of the next blocks have a circuit (transfers) or not (calls).
    pub leaf_has_circuit: bool,
    /// Gas each user tx of the next blocks used.
    pub tx_gas_used: u64,
}

impl Harness {
    /// A market whose plugins all register in block 1.
    pub fn new(params: MarketParams, behaviours: Vec<Behaviour>) -> Self {
        let mut harness = Self {
            market: Market::new(params).expect("valid params"),
            parent: B256::repeat_byte(0x11),
            txs: 0,
            behaviours,
            scheduled: BTreeMap::new(),
            events: Vec::new(),
            extra_calls: Vec::new(),
            last_results: Vec::new(),
            leaf_has_circuit: false,
            tx_gas_used: 21_000,
        };
        let registrations =
            (0..harness.behaviours.len()).map(|i| (plugin_address(i), MarketCall::Register, U256::ZERO)).collect();
        harness.block(registrations, 0);
        harness
    }

    pub fn number(&self) -> u64 {
        self.market.block()
    }

    /// The call an honest plugin sends to prove `job`.
    pub fn proof_call(&self, plugin: usize, job: JobId) -> Option<MarketCall> {
        let job = self.market.job(job)?;
        let statement = job.statement(plugin_address(plugin));
        Some(MarketCall::SubmitProof {
            job_id: job.id,
            inputs: SubmittedInputs::from_statement(&statement),
            proof: ProofData::modeled_valid(&statement),
        })
    }

    /// Runs one block: scheduled proofs and extra calls, then `new_txs` user-tx jobs.
    pub fn block(&mut self, mut calls: Vec<(Address, MarketCall, U256)>, new_txs: u64) -> Vec<MarketEvent> {
        let number = self.market.block() + 1;
        for (plugin, job) in self.scheduled.remove(&number).unwrap_or_default() {
            if let Some(call) = self.proof_call(plugin, job) {
                calls.push((plugin_address(plugin), call, U256::ZERO));
            }
        }
        calls.append(&mut self.extra_calls);
        self.market.begin_block(number);
        self.last_results = calls
            .into_iter()
            .map(|(sender, call, value)| self.market.apply_call(sender, &call.encode(), value, &ModeledVerifier).result)
            .collect();
        let jobs: Vec<NewJob> = (0..new_txs)
            .map(|i| {
                let job = NewJob {
                    kind: JobKind::Tx { block: number, index: i as u32 },
                    pre_root: root(self.txs),
                    post_root: root(self.txs + 1),
                    commitment: tx_commitment(keccak256(self.txs.to_be_bytes())),
                    has_circuit: self.leaf_has_circuit,
                    gas_used: self.tx_gas_used,
                };
                self.txs += 1;
                job
            })
            .collect();
        self.market.end_block(self.parent, 1_000_000, &jobs);
        self.market.commit_block();
        self.parent = keccak256(self.parent);
        let events = self.market.take_events();
        for event in &events {
            if let EventKind::JobAssigned { job, plugin, .. } = &event.kind {
                let index = self.index_of(plugin);
                if let Behaviour::Honest { delay_blocks } = self.behaviours[index] {
                    self.scheduled.entry(number + delay_blocks).or_default().push((index, *job));
                }
            }
        }
        self.events.extend(events.iter().cloned());
        events
    }

    pub fn index_of(&self, address: &Address) -> usize {
        (0..self.behaviours.len()).find(|&i| plugin_address(i) == *address).expect("known plugin")
    }

    /// Heartbeat calls for every plugin.
    pub fn heartbeats(&self) -> Vec<(Address, MarketCall, U256)> {
        (0..self.behaviours.len()).map(|i| (plugin_address(i), MarketCall::Heartbeat, U256::ZERO)).collect()
    }

    /// The assignee of a live job.
    pub fn assignee(&self, job: JobId) -> Option<Address> {
        match self.market.job(job)?.status {
            JobStatus::Assigned { plugin, .. } => {
                Some(self.market.plugins().nth(plugin as usize).expect("plugin").address)
            }
            _ => None,
        }
    }
}
