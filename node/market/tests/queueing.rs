//! Cross-check against queueing theory: in the regime where the market is an M/M/c queue, its
//! tx-job waiting time, probability of waiting and proving latency agree with Erlang C.
//!
//! The regime: `c` honest plugins, always online (a heartbeat well inside the window), one job per
//! plugin (`jobs_per_plugin_max: 1`), no misses (a deadline far beyond any proving time), Poisson
//! arrivals of tx jobs, memoryless proving times. The market then has exactly the M/M/c structure:
//! open jobs wait in one queue (assigned in id order), any free plugin takes the next one, a plugin
//! is freed by its accepted proof.
//!
//! Time is in blocks. A tx job created at the end of block `b` and assigned at the end of block `a`
//! waited `a - b` blocks; its assignee proves it in `d ≥ 1` blocks, `d = ⌈t⌉` with `t`
//! exponential of mean `MEAN_PROVING_BLOCKS` (the block a proof computed at time `t` lands in), so
//! `d` is geometric — the memoryless law of discrete time — with mean `1 / (1 - e^(-1/mean))`,
//! which is the service time the formula is given. Discrete time makes this a Geo/Geo/c queue,
//! whose distance to M/M/c shrinks as the mean proving time grows in blocks (200 here).
//!
//! What the full simulator adds is not in this regime, which is why this test drives the market
//! directly: every proof is itself a market transaction, proven in a span job of a later block, and
//! every block's and range's leaves are aggregated, so the simulator always carries a second class
//! of short jobs (a few plugins' worth, each held at least one block) with no closed form. Here the
//! only non-tx jobs are the aggregations of blocks with several tx jobs and of ranges, and the
//! wraps; their assignees prove them in one block, and the test asserts they use under 1% of the
//! plugins' time, so the queue the tx jobs see is M/M/c to within that (0.35% measured, which by
//! the formula itself lengthens the mean wait by about 2.5%).
//!
//! Cost: 300,000 measured jobs over 21.6 million blocks, about a minute in the dev profile (the
//! market and ledger crates are optimised there); fewer jobs leave the mean wait's standard error
//! above the 4% the tolerance needs (100,000 gave 5%).

mod support;

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256, keccak256};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Poisson};
use support::{plugin_address, root};
use zkcrowd_market::{
    EventKind, JobId, JobKind, Market, MarketCall, MarketParams, ModeledVerifier, NewJob, ProofData, SubmittedInputs,
    tx_commitment,
};

/// Plugins (servers).
const PLUGINS: u32 = 4;
/// Offered load per plugin (ρ = λ / (c μ)).
const LOAD: f64 = 0.7;
/// Mean of the continuous proving time, in blocks.
const MEAN_PROVING_BLOCKS: f64 = 200.0;
/// Tx jobs measured, after the warm-up.
const JOBS_MEASURED: usize = 300_000;
/// Tx jobs discarded first (the queue starts empty).
const JOBS_WARM_UP: usize = 2_000;
/// Batches for the standard error of the mean wait (batch means).
const BATCHES: usize = 20;
/// Agreement required with the formula, relative.
const TOLERANCE: f64 = 0.10;
/// Largest standard error of the measured mean wait, relative: the tolerance must be at least
/// 2.5 standard errors, or a pass would say little.
const STANDARD_ERROR_MAX: f64 = 0.04;
/// Heartbeat cadence; the window is far longer, so no plugin is ever inactive.
const HEARTBEAT_EVERY_BLOCKS: u64 = 100_000;

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load
/// `a = λ / μ` (`a < c`).
fn erlang_c(c: u32, a: f64) -> f64 {
    assert!(a < f64::from(c), "unstable queue");
    // Σ_{k<c} a^k / k!, and a^c / c! · c / (c - a), by running products.
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    let top = term * f64::from(c) / (f64::from(c) - a);
    top / (sum + top)
}

/// What the formula predicts for `c` servers, arrival rate `lambda` and mean service `service`
/// (per block, blocks): (probability of waiting, mean wait, mean time in system).
fn predict(c: u32, lambda: f64, service: f64) -> (f64, f64, f64) {
    let mu = 1.0 / service;
    let p_wait = erlang_c(c, lambda / mu);
    let wait = p_wait / (f64::from(c) * mu - lambda);
    (p_wait, wait, wait + service)
}

/// What one run measured.
struct Measured {
    /// Waits of the measured tx jobs (blocks), in creation order.
    waits: Vec<u64>,
    /// Creation to accepted proof of the measured tx jobs (blocks).
    latencies: Vec<u64>,
    /// Plugin-blocks spent on non-tx jobs.
    non_tx_blocks: u64,
    /// Blocks run.
    blocks: u64,
}

fn proof_call(market: &Market, plugin: Address, job: JobId) -> MarketCall {
    let statement = market.job(job).expect("held job is live").statement(plugin);
    MarketCall::SubmitProof {
        job_id: job,
        inputs: SubmittedInputs::from_statement(&statement),
        proof: ProofData::modeled_valid(&statement),
    }
}

/// Runs the market until `JOBS_WARM_UP + JOBS_MEASURED` tx jobs were created and proven.
fn run(lambda_per_block: f64, seed: u64) -> Measured {
    let params = MarketParams {
        jobs_per_plugin_max: 1,
        // Beyond any proving time drawn here (P(t > 5,000 blocks) = e^-25).
        proof_deadline_blocks: 5_000,
        heartbeat_window_blocks: 1_000_000,
        ..MarketParams::default()
    };
    let mut market = Market::new(params).expect("valid params");
    market.set_mint_room(u128::MAX);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arrivals = Poisson::new(lambda_per_block).expect("positive rate");
    let proving = Exp::new(1.0 / MEAN_PROVING_BLOCKS).expect("positive mean");
    let plugins: Vec<Address> = (0..PLUGINS as usize).map(plugin_address).collect();

    let total = JOBS_WARM_UP + JOBS_MEASURED;
    let mut parent = B256::ZERO;
    let mut created_txs = 0usize;
    // Tx job → (its index in creation order, creation block).
    let mut tx_jobs: BTreeMap<JobId, (usize, u64)> = BTreeMap::new();
    let mut due: BTreeMap<u64, Vec<(Address, JobId)>> = BTreeMap::new();
    let mut waits = vec![None; total];
    let mut latencies = vec![None; total];
    let mut proven = 0usize;
    let mut non_tx_blocks = 0u64;
    let mut calls: Vec<(Address, MarketCall)> = plugins.iter().map(|p| (*p, MarketCall::Register)).collect();

    while proven < total {
        let number = market.block() + 1;
        if number.is_multiple_of(HEARTBEAT_EVERY_BLOCKS) {
            calls.extend(plugins.iter().map(|p| (*p, MarketCall::Heartbeat)));
        }
        market.begin_block(number);
        for (sender, job) in due.remove(&number).unwrap_or_default() {
            calls.push((sender, proof_call(&market, sender, job)));
        }
        for (sender, call) in calls.drain(..) {
            let outcome = market.apply_call(sender, &call.encode(), U256::ZERO, &ModeledVerifier);
            assert_eq!(outcome.result, Ok(()), "block {number}: {call:?} from {sender}");
        }
        let arriving = if created_txs < total { arrivals.sample(&mut rng) as usize } else { 0 };
        let jobs: Vec<NewJob> = (0..arriving.min(total - created_txs))
            .map(|i| {
                let n = (created_txs + i) as u64;
                NewJob {
                    kind: JobKind::Tx { block: number, index: i as u32 },
                    pre_root: root(n),
                    post_root: root(n + 1),
                    commitment: tx_commitment(keccak256(n.to_be_bytes())),
                    has_circuit: false,
                    gas_used: 21_000,
                }
            })
            .collect();
        market.end_block(parent, 0, &jobs);
        market.commit_block();
        // The parent hash seeds the assignment draw: any value distinct per block.
        parent = B256::left_padding_from(&number.to_be_bytes());

        for event in market.take_events() {
            match event.kind {
                EventKind::JobCreated { job, kind: JobKind::Tx { .. } } => {
                    tx_jobs.insert(job, (created_txs, number));
                    created_txs += 1;
                }
                EventKind::JobAssigned { job, plugin, attempt, .. } => {
                    assert_eq!(attempt, 0, "job {job} reassigned: a miss, outside the regime");
                    let blocks = match tx_jobs.get(&job) {
                        Some(&(index, created)) => {
                            waits[index] = Some(number - created);
                            // The block the proof computed `t` blocks after assignment lands in.
                            (proving.sample(&mut rng).ceil() as u64).max(1)
                        }
                        None => {
                            non_tx_blocks += 1;
                            1
                        }
                    };
                    due.entry(number + blocks).or_default().push((plugin, job));
                }
                EventKind::ProofAccepted { job, age_blocks, .. } => {
                    if let Some((index, _)) = tx_jobs.remove(&job) {
                        latencies[index] = Some(age_blocks);
                        proven += 1;
                    }
                }
                EventKind::JobMissed { job, .. } => panic!("job {job} missed: outside the regime"),
                _ => {}
            }
        }
    }
    let measured = |values: Vec<Option<u64>>| -> Vec<u64> {
        values.into_iter().skip(JOBS_WARM_UP).map(|v| v.expect("every job measured")).collect()
    };
    Measured { waits: measured(waits), latencies: measured(latencies), non_tx_blocks, blocks: market.block() }
}

fn mean(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len() as f64
}

/// Standard error of the mean of `values` by batch means (consecutive waits are correlated).
fn standard_error(values: &[u64]) -> f64 {
    let size = values.len() / BATCHES;
    let means: Vec<f64> = values.chunks_exact(size).map(mean).collect();
    let grand = means.iter().sum::<f64>() / means.len() as f64;
    let variance = means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
    (variance / means.len() as f64).sqrt()
}

/// Goal: in the M/M/c regime the market's tx jobs wait, and are proven, as Erlang C predicts
/// (within 10%), and the comparison has power: the measured mean wait is known to within
/// `STANDARD_ERROR_MAX`, and the same comparison rejects the formula for one plugin fewer and for
/// a tenth more load.
#[test]
fn tx_jobs_wait_as_erlang_c_predicts() {
    // The mean of d = ⌈t⌉ (at least one block), t exponential with mean MEAN_PROVING_BLOCKS.
    let service = 1.0 / (1.0 - (-1.0 / MEAN_PROVING_BLOCKS).exp());
    let lambda = LOAD * f64::from(PLUGINS) / service;
    let measured = run(lambda, 7);

    let (p_wait, wait, latency) = predict(PLUGINS, lambda, service);
    let waited = measured.waits.iter().filter(|&&w| w > 0).count() as f64 / measured.waits.len() as f64;
    let mean_wait = mean(&measured.waits);
    let mean_latency = mean(&measured.latencies);
    let error = standard_error(&measured.waits) / wait;
    let non_tx_share = measured.non_tx_blocks as f64 / (f64::from(PLUGINS) * measured.blocks as f64);
    println!(
        "c = {PLUGINS}, ρ = {LOAD}, service {service:.1} blocks, {} blocks: P(wait) {waited:.4} vs {p_wait:.4}, \
         wait {mean_wait:.2} vs {wait:.2} blocks (standard error {:.1}%), latency {mean_latency:.2} vs \
         {latency:.2} blocks, non-tx jobs {:.2}% of plugin time",
        measured.blocks,
        error * 100.0,
        non_tx_share * 100.0,
    );

    assert!(non_tx_share < 0.01, "non-tx jobs took {:.2}% of plugin time: not the M/M/c regime", non_tx_share * 100.0);
    assert!(error < STANDARD_ERROR_MAX, "mean wait known only to {:.1}%", error * 100.0);
    let agrees = |measured: f64, predicted: f64| (measured / predicted - 1.0).abs() <= TOLERANCE;
    assert!(agrees(waited, p_wait), "P(wait) {waited:.4}, Erlang C {p_wait:.4}");
    assert!(agrees(mean_wait, wait), "mean wait {mean_wait:.2} blocks, Erlang C {wait:.2}");
    assert!(agrees(mean_latency, latency), "mean latency {mean_latency:.2} blocks, Erlang C {latency:.2}");

    // Power: the same comparison tells a wrong model apart.
    let (_, wait_fewer, _) = predict(PLUGINS - 1, lambda, service);
    let (_, wait_loaded, _) = predict(PLUGINS, lambda * 1.1, service);
    assert!(!agrees(mean_wait, wait_fewer), "one plugin fewer also agrees: {wait_fewer:.2}");
    assert!(!agrees(mean_wait, wait_loaded), "a tenth more load also agrees: {wait_loaded:.2}");
}

#[test]
fn erlang_c_matches_known_values() {
    // M/M/1: P(wait) = ρ. M/M/2 at a = 1: C = 1/3 (a^2/2 · 2 / (2 - 1) = 1; 1 + 1 + 1 = 3).
    assert!((erlang_c(1, 0.6) - 0.6).abs() < 1e-12);
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    // A textbook value: c = 10, a = 8 gives C ≈ 0.409.
    assert!((erlang_c(10, 8.0) - 0.4092).abs() < 1e-3);
}
