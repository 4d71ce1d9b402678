//! Wrapper costs: stage 1 (the normalize proof over an aggregate root) and the final
//! `KeccakGoldilocksConfig` proof the L1 verifies, with the one-off circuit build, proof sizes and the
//! process's peak memory (printed).
//!
//! `cargo bench -p zkcrowd-proofs --bench wrap` (see docs/benchmarks.md, "On-chain verifier").

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use criterion::{Criterion, criterion_group, criterion_main};
use zkcrowd_ledger::{AccountLeaf, AccountLedger};
use zkcrowd_proofs::solidity::{Shape, encode_proof};
use zkcrowd_proofs::{ProofSystem, RangeRecord, TransferWitness, Wrapper};

const PROVER: Address = Address::repeat_byte(0xaa);

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, tx: u8) -> TransferWitness {
    let sender = *ledger.get(&address(from)).expect("funded");
    let receiver = *ledger.get(&address(to)).expect("funded");
    let sender_after = AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 22_000, ..sender };
    let receiver_after = AccountLeaf { balance: receiver.balance + 1_000, ..receiver };
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first).expect("write"), ledger.upsert_recorded(second).expect("write")];
    TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: 1_000, fee_wei: 21_000, writes }
}

/// The process's peak resident memory (Linux `VmHWM`), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn wrap(c: &mut Criterion) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkcrowd-proofs-bench");
    let system = ProofSystem::load_or_build(&cache).expect("proof system");
    let started = Instant::now();
    let wrapper = Wrapper::build(&system).expect("wrapper");
    let (stage1_bits, final_bits) = wrapper.degree_bits();
    println!(
        "wrapper circuits built in {:.2?}: stage 1 2^{stage1_bits} rows, final 2^{final_bits} rows ({:?})",
        started.elapsed(),
        wrapper.fri()
    );
    let mut ledger = AccountLedger::new();
    for byte in 1..=10 {
        ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1 << 90 }).expect("fund");
    }
    let left = system.prove_transfer(&transfer(&mut ledger, 3, 7, 1), 1, PROVER).expect("prove");
    let right = system.prove_transfer(&transfer(&mut ledger, 5, 2, 2), 2, PROVER).expect("prove");
    let aggregate = system.prove_aggregate(&left, &right, 3, PROVER).expect("aggregate");
    let record = RangeRecord { chain_id: 7, first_block: 1, last_block: 2, prover: PROVER };
    let normalized = wrapper.normalize(&system, &aggregate).expect("stage 1");
    let proof = wrapper.finish(&normalized, &record).expect("final proof");
    let shape = Shape::of(wrapper.final_common()).expect("shape");
    println!(
        "final proof: {} B as plonky2 serializes it, {} B of calldata",
        proof.to_bytes().len(),
        encode_proof(&shape, &proof).expect("encode").len()
    );

    let mut group = c.benchmark_group("wrap");
    group.sample_size(10).measurement_time(Duration::from_secs(120));
    group.bench_function("stage1_normalize_aggregate", |b| {
        b.iter(|| wrapper.normalize(&system, black_box(&aggregate)).expect("stage 1"))
    });
    group.bench_function("final_keccak_proof", |b| {
        b.iter(|| wrapper.finish(black_box(&normalized), black_box(&record)).expect("final proof"))
    });
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("verify_final_rust", |b| b.iter(|| wrapper.verify(black_box(&proof)).expect("verifies")));
    group.finish();
    if let Some(peak) = peak_memory_mib() {
        println!("peak resident memory of the bench process: {peak:.0} MiB");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = wrap
}
criterion_main!(benches);
