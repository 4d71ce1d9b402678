//! Market step cost per block with 10,000 active plugins and ~2,000 open jobs.
//!
//! Steady state, one block per iteration: ~20–40 proofs accepted (calls; as many as keep ~2,000
//! jobs in flight), 20 new tx jobs plus the aggregation jobs those proofs create, ~100 deadlines
//! missed and reassigned (jobs nobody proves), assignment over the 10,000 eligible plugins, leaf
//! updates and the market root.
//!
//! `cargo bench -p zkcrowd-market --bench market_step`; figures in docs/benchmarks.md.

use std::collections::VecDeque;
use std::hint::black_box;

use alloy::primitives::{Address, B256, U256, keccak256};
use criterion::{Criterion, criterion_group, criterion_main};
use plonky2::field::types::Field;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use zkcrowd_ledger::{Digest, F};
use zkcrowd_market::{
    EventKind, JobId, JobKind, Market, MarketCall, MarketParams, ModeledVerifier, NewJob, ProofData, SubmittedInputs,
    tx_commitment,
};
use zkcrowd_primitives::SignedZkpow;

const PLUGINS: usize = 10_000;
const JOBS_IN_FLIGHT: u64 = 2_000;
const DEADLINE: u64 = 20;

fn address(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&keccak256((i as u64).to_be_bytes())[..8]);
    Address::from(bytes)
}

fn root(n: u64) -> Digest {
    PoseidonHash::hash_no_pad(&[F::from_canonical_u64(n)])
}

struct Bench {
    market: Market,
    parent: B256,
    txs: u64,
    assigned: VecDeque<(Address, JobId)>,
}

impl Bench {
    fn block(&mut self, calls: Vec<(Address, MarketCall)>, new_jobs: u64) {
        let number = self.market.block() + 1;
        self.market.begin_block(number);
        for (sender, call) in calls {
            let outcome = self.market.apply_call(sender, &call.encode(), U256::ZERO, &ModeledVerifier);
            black_box(outcome);
        }
        let jobs: Vec<NewJob> = (0..new_jobs)
            .map(|i| {
                self.txs += 1;
                NewJob {
                    kind: JobKind::Tx { block: number, index: i as u32 },
                    pre_root: root(self.txs - 1),
                    post_root: root(self.txs),
                    commitment: tx_commitment(keccak256(self.txs.to_be_bytes())),
                    has_circuit: false,
                    gas_used: 21_000,
                }
            })
            .collect();
        self.market.end_block(self.parent, 1_000_000, &jobs);
        self.market.commit_block();
        self.parent = keccak256(self.parent);
        for event in self.market.take_events() {
            if let EventKind::JobAssigned { job, plugin, .. } = event.kind {
                self.assigned.push_back((plugin, job));
            }
        }
    }

    fn proofs(&mut self, count: usize) -> Vec<(Address, MarketCall)> {
        let mut calls = Vec::with_capacity(count);
        while calls.len() < count {
            let Some((plugin, job)) = self.assigned.pop_back() else { break };
            let Some(live) = self.market.job(job) else { continue };
            if !matches!(live.status, zkcrowd_market::JobStatus::Assigned { .. }) {
                continue;
            }
            let statement = live.statement(plugin);
            calls.push((
                plugin,
                MarketCall::SubmitProof {
                    job_id: job,
                    inputs: SubmittedInputs::from_statement(&statement),
                    proof: ProofData::modeled_valid(&statement),
                },
            ));
        }
        calls
    }
}

fn market_step(c: &mut Criterion) {
    let params = MarketParams {
        heartbeat_window_blocks: 1_000_000,
        proof_deadline_blocks: DEADLINE,
        debt_limit: SignedZkpow::from_zkpow(-1_000_000_000),
        ..MarketParams::default()
    };
    let mut bench = Bench {
        market: Market::new(params).expect("params"),
        parent: B256::repeat_byte(7),
        txs: 0,
        assigned: VecDeque::new(),
    };
    let registrations = (0..PLUGINS).map(|i| (address(i), MarketCall::Register)).collect();
    bench.block(registrations, 0);
    // Fill the pipeline: 2,000 jobs with deadlines spread over 20 blocks.
    for _ in 0..DEADLINE {
        bench.block(Vec::new(), JOBS_IN_FLIGHT / DEADLINE);
    }
    assert_eq!(bench.market.active_count(), PLUGINS as u64);
    let in_flight = bench.market.assigned_jobs() + bench.market.open_jobs();
    assert!(in_flight >= JOBS_IN_FLIGHT as usize, "{in_flight}");

    c.bench_function("market_step/10000_plugins_2000_jobs", |b| {
        b.iter(|| {
            // Prove enough to hold the jobs in flight at ~2,000 (aggregation jobs join the 20 new
            // tx jobs of every block).
            let in_flight = (bench.market.assigned_jobs() + bench.market.open_jobs()) as u64;
            let proofs = bench.proofs((in_flight + 20).saturating_sub(JOBS_IN_FLIGHT) as usize);
            bench.block(proofs, 20);
        })
    });
    let in_flight = bench.market.assigned_jobs() + bench.market.open_jobs();
    eprintln!("jobs in flight after the benchmark: {in_flight}, active plugins: {}", bench.market.active_count());
}

criterion_group!(benches, market_step);
criterion_main!(benches);
