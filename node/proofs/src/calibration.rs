//! The proving workload a device is measured on: one transfer, one 16-call span and a 2-to-1
//! aggregation of two transfers, each proven `runs` times (median), and the aggregate verified.
//! The same witnesses natively (`zkcrowd calibrate`) and in a browser (the web plugin), so times
//! measured on two devices compare. The clock is the caller's: `std::time::Instant` natively,
//! `performance.now()` in a browser, where `Instant` is not available.

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result, ensure};
use zkcrowd_ledger::{AccountLeaf, AccountLedger};

use crate::{CallWitness, ProofSystem, RealProof, SPAN_CALLS_MAX, SpanWitness, TransferWitness};

/// The prover every calibration proof names.
pub const CALIBRATION_PROVER: Address = Address::repeat_byte(0xaa);

/// The witnesses: two transfers between existing accounts and a full span.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Two transfers (the second is only aggregated, never timed alone).
    pub transfers: [TransferWitness; 2],
    /// A span of [`SPAN_CALLS_MAX`] market calls.
    pub span: SpanWitness,
}

impl Workload {
    /// Builds the witnesses from a 40-account ledger.
    pub fn new() -> Result<Self> {
        let mut ledger = AccountLedger::new();
        for i in 1..=40u8 {
            ledger.upsert(AccountLeaf { address: Address::repeat_byte(i), nonce: 0, balance: 1_000_000_000 })?;
        }
        // A transfer between two existing accounts (the lower address is the sender), fee 21.
        let transfer = |ledger: &mut AccountLedger, from: u8, to: u8| -> Result<TransferWitness> {
            let sender = *ledger.get(&Address::repeat_byte(from)).context("sender")?;
            let receiver = *ledger.get(&Address::repeat_byte(to)).context("receiver")?;
            let first = ledger.upsert_recorded(AccountLeaf {
                nonce: sender.nonce + 1,
                balance: sender.balance - 121,
                ..sender
            })?;
            let second = ledger.upsert_recorded(AccountLeaf { balance: receiver.balance + 100, ..receiver })?;
            Ok(TransferWitness {
                tx_hash: B256::repeat_byte(from),
                value_wei: 100,
                fee_wei: 21,
                writes: [first, second],
            })
        };
        let transfers = [transfer(&mut ledger, 1, 2)?, transfer(&mut ledger, 3, 4)?];
        let calls = (0..SPAN_CALLS_MAX as u8)
            .map(|i| {
                let leaf = *ledger.get(&Address::repeat_byte(10 + i)).context("caller")?;
                let write = ledger.upsert_recorded(AccountLeaf {
                    nonce: leaf.nonce + 1,
                    balance: leaf.balance - 50,
                    ..leaf
                })?;
                Ok(CallWitness { tx_hash: B256::repeat_byte(100 + i), debit_wei: 50, credit_wei: 0, write })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { transfers, span: SpanWitness { calls } })
    }
}

/// Medians of one device's proving times, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// Runs per figure.
    pub runs: u32,
    /// A transfer proof (leaf shape, 2^11 rows).
    pub tx_ms: f64,
    /// A 16-call span proof (leaf shape).
    pub span_ms: f64,
    /// A 2-to-1 aggregation of two transfer proofs (aggregate shape, 2^13 rows).
    pub aggregate_ms: f64,
    /// Verifying the aggregate.
    pub verify_ms: f64,
    /// The aggregate proof's size.
    pub aggregate_bytes: usize,
}

/// Median of `runs` calls of `f`, timed by `now_ms`, and the last result.
fn median_ms<T>(runs: u32, now_ms: &mut dyn FnMut() -> f64, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs as usize);
    let mut last = None;
    for _ in 0..runs {
        let start = now_ms();
        last = Some(f()?);
        times.push(now_ms() - start);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last.context("no run")?))
}

/// Proves the workload `runs` times per circuit and verifies the aggregate; also returns the
/// aggregate (a wrap calibration goes on from it).
pub fn measure(
    system: &ProofSystem,
    workload: &Workload,
    runs: u32,
    now_ms: &mut dyn FnMut() -> f64,
) -> Result<(Timings, RealProof)> {
    ensure!(runs > 0, "runs must be positive");
    let prover = CALIBRATION_PROVER;
    let [first, second] = &workload.transfers;
    let (tx_ms, left) = median_ms(runs, now_ms, || Ok(system.prove_transfer(first, 1, prover)?))?;
    let right = system.prove_transfer(second, 2, prover)?;
    let (span_ms, _) = median_ms(runs, now_ms, || Ok(system.prove_span(&workload.span, 3, prover)?))?;
    let (aggregate_ms, aggregate) = median_ms(runs, now_ms, || Ok(system.prove_aggregate(&left, &right, 4, prover)?))?;
    let (verify_ms, ()) =
        median_ms(runs, now_ms, || system.verify(&aggregate.statement, &aggregate.bytes).map_err(anyhow::Error::msg))?;
    let timings = Timings { runs, tx_ms, span_ms, aggregate_ms, verify_ms, aggregate_bytes: aggregate.bytes.len() };
    Ok((timings, aggregate))
}
