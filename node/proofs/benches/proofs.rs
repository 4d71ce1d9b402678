//! Real-proof costs: one transfer proof, one 16-call span proof, a 2-to-1 aggregation of two
//! transfers and one of two aggregates, the verification of a transfer and of an aggregate; plus
//! the one-off costs of building the circuits and of loading them from the cache, and the proof
//! sizes (printed).
//!
//! `cargo bench -p zkcrowd-proofs` (see docs/benchmarks.md, "Real proofs (plonky2)").

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use criterion::{Criterion, criterion_group, criterion_main};
use zkcrowd_ledger::{AccountLeaf, AccountLedger};
use zkcrowd_proofs::{CallWitness, ProofSystem, SpanWitness, TransferWitness};

const PROVER: Address = Address::repeat_byte(0xaa);

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

/// A transfer of 1,000 wei plus a 21,000 wei fee from `from` to `to`, applied to `ledger`.
fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, tx: u8) -> TransferWitness {
    let sender = *ledger.get(&address(from)).expect("funded");
    let receiver = *ledger.get(&address(to)).expect("funded");
    let sender_after = AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 22_000, ..sender };
    let receiver_after = AccountLeaf { balance: receiver.balance + 1_000, ..receiver };
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first).expect("write"), ledger.upsert_recorded(second).expect("write")];
    TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: 1_000, fee_wei: 21_000, writes }
}

fn proofs(c: &mut Criterion) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkcrowd-proofs-bench");
    let _ = std::fs::remove_dir_all(&cache);
    let started = Instant::now();
    let built = ProofSystem::load_or_build(&cache).expect("build");
    let build_time = started.elapsed();
    drop(built);
    let started = Instant::now();
    let system = ProofSystem::load_or_build(&cache).expect("load");
    let load_time = started.elapsed();
    println!(
        "setup: build and write the cache {build_time:.2?}, load the cache {load_time:.2?} ({:?})",
        system.origin()
    );
    let cache_bytes: u64 =
        std::fs::read_dir(&cache).expect("cache").map(|f| f.expect("entry").metadata().expect("meta").len()).sum();
    println!(
        "cache size: {:.1} MB, {} rows per leaf circuit, {} per aggregation circuit",
        cache_bytes as f64 / 1e6,
        1 << system.leaf_degree_bits(),
        1 << system.aggregate_degree_bits()
    );

    let mut ledger = AccountLedger::new();
    for byte in 1..=20 {
        ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1 << 100 }).expect("fund");
    }
    let first = transfer(&mut ledger, 3, 7, 1);
    let second = transfer(&mut ledger, 12, 4, 2);
    let third = transfer(&mut ledger, 5, 9, 3);
    let fourth = transfer(&mut ledger, 15, 2, 4);
    let calls = (0..16u8)
        .map(|i| {
            let before = *ledger.get(&address(1 + i % 20)).expect("funded");
            let write = ledger
                .upsert_recorded(AccountLeaf { nonce: before.nonce + 1, balance: before.balance - 100, ..before })
                .expect("write");
            CallWitness { tx_hash: B256::repeat_byte(i), debit_wei: 100, credit_wei: 0, write }
        })
        .collect();
    let span = SpanWitness { calls };

    let left = system.prove_transfer(&first, 1, PROVER).expect("prove");
    let right = system.prove_transfer(&second, 2, PROVER).expect("prove");
    let span_proof = system.prove_span(&span, 3, PROVER).expect("prove");
    let aggregate = system.prove_aggregate(&left, &right, 4, PROVER).expect("aggregate");
    let (third, fourth) = (
        system.prove_transfer(&third, 5, PROVER).expect("prove"),
        system.prove_transfer(&fourth, 6, PROVER).expect("prove"),
    );
    let aggregate_right = system.prove_aggregate(&third, &fourth, 7, PROVER).expect("aggregate");
    let top = system.prove_aggregate(&aggregate, &aggregate_right, 8, PROVER).expect("aggregate");
    println!(
        "proof sizes: transfer {} B, span {} B, aggregate of leaves {} B, aggregate of aggregates {} B",
        left.bytes.len(),
        span_proof.bytes.len(),
        aggregate.bytes.len(),
        top.bytes.len()
    );

    let mut group = c.benchmark_group("real_proofs");
    group.sample_size(10).measurement_time(Duration::from_secs(40));
    group.bench_function("transfer_proof", |b| {
        b.iter(|| system.prove_transfer(black_box(&first), 1, PROVER).expect("prove"))
    });
    group.bench_function("span_proof_16_calls", |b| {
        b.iter(|| system.prove_span(black_box(&span), 3, PROVER).expect("prove"))
    });
    group.bench_function("aggregate_2_to_1", |b| {
        b.iter(|| system.prove_aggregate(black_box(&left), black_box(&right), 4, PROVER).expect("aggregate"))
    });
    group.bench_function("aggregate_2_to_1_of_aggregates", |b| {
        b.iter(|| {
            system.prove_aggregate(black_box(&aggregate), black_box(&aggregate_right), 8, PROVER).expect("aggregate")
        })
    });
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("verify_transfer", |b| {
        b.iter(|| system.verify(black_box(&left.statement), black_box(&left.bytes)).expect("verify"))
    });
    group.bench_function("verify_aggregate", |b| {
        b.iter(|| system.verify(black_box(&top.statement), black_box(&top.bytes)).expect("verify"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = proofs
}
criterion_main!(benches);
