//! Ledger-root update cost per transaction: a transfer rewrites two leaves (sender, recipient) of
//! the depth-24 account tree and recomputes the root, sharing the top of the two paths.
//!
//! `cargo bench -p zkcrowd-ledger --bench ledger`; figures in docs/benchmarks.md.

use std::hint::black_box;

use alloy::primitives::Address;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use zkcrowd_ledger::{AccountLeaf, AccountLedger, F};

fn address(i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[12..].copy_from_slice(&i.to_be_bytes());
    Address::from(bytes)
}

fn ledger_update(c: &mut Criterion) {
    let accounts = 10_000u64;
    let mut ledger = AccountLedger::new();
    for i in 0..accounts {
        ledger.upsert(AccountLeaf { address: address(i), nonce: 0, balance: 1 << 70 }).unwrap();
    }
    ledger.root();
    let mut group = c.benchmark_group("ledger_root");
    group.throughput(Throughput::Elements(1));
    let mut step = 0u64;
    group.bench_function("transfer_two_leaves_depth24_10000_accounts", |b| {
        b.iter(|| {
            step += 1;
            let from = step % accounts;
            let to = (step * 7919) % accounts;
            ledger
                .upsert(AccountLeaf { address: address(from), nonce: step, balance: (1 << 70) - step as u128 })
                .unwrap();
            ledger.upsert(AccountLeaf { address: address(to), nonce: 0, balance: (1 << 70) + step as u128 }).unwrap();
            black_box(ledger.root())
        })
    });
    let left = PoseidonHash::hash_no_pad(&[{
        use plonky2::field::types::Field;
        F::from_canonical_u64(1)
    }]);
    group.bench_function("poseidon_two_to_one", |b| {
        b.iter(|| black_box(PoseidonHash::two_to_one(black_box(left), black_box(left))))
    });
    group.finish();
}

criterion_group!(benches, ledger_update);
criterion_main!(benches);
