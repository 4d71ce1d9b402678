//! Block execution throughput: blocks of signed transfers among funded accounts, executed by revm
//! with both roots (MPT and Poseidon ledger) recomputed after every transaction, as the chain does.
//!
//! `cargo bench -p zkcrowd-chain --bench block`; figures in docs/benchmarks.md.

use std::hint::black_box;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Bytes, TxKind, U256};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use zkcrowd_chain::tx::sign;
use zkcrowd_chain::{Chain, Genesis, GenesisAccount, GenesisValidator, SignedTx};
use zkcrowd_primitives::{AccountRef, Zkpow, dev_address, dev_signer};

const CHAIN_ID: u64 = 7777;

/// Development accounts are funded by literal address (derived once here), so that building a
/// fresh chain per iteration does not pay 10,000 public-key derivations.
fn genesis(accounts: u64) -> Genesis {
    let funded = (0..accounts)
        .map(|i| GenesisAccount {
            address: AccountRef::Address(dev_address(i)),
            balance: Zkpow::from_zkpow(1_000),
            nonce: 0,
            code: None,
        })
        .collect();
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: 0,
        gas_limit: 300_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: funded,
        dev_accounts: None,
        validators: vec![GenesisValidator {
            address: AccountRef::Address(alloy::primitives::Address::repeat_byte(0x11)),
            stake: Zkpow::from_zkpow(1),
        }],
        market: Default::default(),
    }
}

/// `count` transfers, each from a distinct sender (nonce 0) to another funded account.
fn transfers(accounts: u64, count: u64) -> Vec<SignedTx> {
    (0..count)
        .map(|i| {
            let from = i % accounts;
            let envelope = sign(
                &dev_signer(from),
                TxEip1559 {
                    chain_id: CHAIN_ID,
                    nonce: 0,
                    gas_limit: 21_000,
                    max_fee_per_gas: 10_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    to: TxKind::Call(dev_address((from * 7 + 1) % accounts)),
                    value: U256::from(1_000 + i),
                    access_list: Default::default(),
                    input: Bytes::new(),
                },
            );
            SignedTx::from_envelope(envelope, CHAIN_ID).expect("valid")
        })
        .collect()
}

fn block_execution(c: &mut Criterion) {
    let accounts = 10_000;
    let per_block = 1_000;
    let txs = transfers(accounts, per_block);
    let genesis = genesis(accounts);
    let base = Chain::from_genesis(&genesis).expect("genesis");
    drop(base);
    let mut group = c.benchmark_group("block_execution");
    group.throughput(Throughput::Elements(per_block));
    group.sample_size(10);
    group.bench_function("transfers_1000_in_10000_accounts", |b| {
        b.iter_batched(
            || Chain::from_genesis(&genesis).expect("genesis"),
            |mut chain| {
                let outcome = chain.build_block(black_box(&txs), 1, alloy::primitives::Address::ZERO);
                assert_eq!(outcome.txs.len(), per_block as usize);
                chain
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // Signature recovery is part of admitting a tx (mempool), not of block execution; measured
    // apart because it is the other per-tx cost a validator pays.
    let raw: Vec<_> = txs.iter().take(100).map(|t| t.envelope.clone()).collect();
    let mut group = c.benchmark_group("tx_admission");
    group.throughput(Throughput::Elements(raw.len() as u64));
    group.bench_function("recover_sender_100", |b| {
        b.iter(|| {
            for envelope in &raw {
                black_box(SignedTx::from_envelope(envelope.clone(), CHAIN_ID).expect("valid"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, block_execution);
criterion_main!(benches);
