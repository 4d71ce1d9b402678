//! `zkcrowd calibrate`: measures this project's real circuits on this machine and writes the
//! `measured` cost profile (`sim/profiles/measured.json`), which scenarios then use, scaled by each
//! plugin's device speed. Measuring is wall-clock work outside any simulation; a run reads only the
//! file, so the same file gives the same digest.

use std::path::Path;
use std::time::Instant;

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result, ensure};
use zkcrowd_ledger::{AccountLeaf, AccountLedger};
use zkcrowd_proofs::{
    CallWitness, ProofSystem, RangeRecord, RealProof, SPAN_CALLS_MAX, SpanWitness, TransferWitness, Wrapper,
};

use crate::cost::Calibration;

/// Median of wall-clock milliseconds over `runs` calls.
fn median_ms<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last.expect("runs > 0")))
}

/// Measures transfer, 16-call span and aggregation proofs and the wrap of an aggregate root
/// (`runs` each, median) and returns the calibration, with the machine in its note.
pub fn measure(system: &ProofSystem, wrapper: &Wrapper, runs: usize) -> Result<Calibration> {
    ensure!(runs > 0, "runs must be positive");
    let prover = Address::repeat_byte(0xaa);
    let mut ledger = AccountLedger::new();
    for i in 1..=40u8 {
        ledger.upsert(AccountLeaf { address: Address::repeat_byte(i), nonce: 0, balance: 1_000_000_000 })?;
    }
    // A transfer between two existing accounts (lower address is the sender), fee 21.
    let transfer = |ledger: &mut AccountLedger, from: u8, to: u8| -> Result<TransferWitness> {
        let sender = *ledger.get(&Address::repeat_byte(from)).context("sender")?;
        let receiver = *ledger.get(&Address::repeat_byte(to)).context("receiver")?;
        let first =
            ledger.upsert_recorded(AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 121, ..sender })?;
        let second = ledger.upsert_recorded(AccountLeaf { balance: receiver.balance + 100, ..receiver })?;
        Ok(TransferWitness { tx_hash: B256::repeat_byte(from), value_wei: 100, fee_wei: 21, writes: [first, second] })
    };
    let t1 = transfer(&mut ledger, 1, 2)?;
    let t2 = transfer(&mut ledger, 3, 4)?;
    let calls = (0..SPAN_CALLS_MAX as u8)
        .map(|i| {
            let leaf = *ledger.get(&Address::repeat_byte(10 + i)).context("caller")?;
            let write =
                ledger.upsert_recorded(AccountLeaf { nonce: leaf.nonce + 1, balance: leaf.balance - 50, ..leaf })?;
            Ok(CallWitness { tx_hash: B256::repeat_byte(100 + i), debit_wei: 50, credit_wei: 0, write })
        })
        .collect::<Result<Vec<_>>>()?;
    let span = SpanWitness { calls };

    let (tx_ms, left) = median_ms(runs, || Ok(system.prove_transfer(&t1, 1, prover)?))?;
    let right: RealProof = system.prove_transfer(&t2, 2, prover)?;
    let (span_ms, _) = median_ms(runs, || Ok(system.prove_span(&span, 3, prover)?))?;
    let (aggregate_ms, aggregate) = median_ms(runs, || Ok(system.prove_aggregate(&left, &right, 4, prover)?))?;
    let record = RangeRecord { chain_id: 7777, first_block: 1, last_block: 8, prover };
    let (wrap_ms, _) = median_ms(runs, || Ok(wrapper.wrap_calldata(system, &aggregate, &record)?))?;
    let (verify_ms, ()) =
        median_ms(runs, || system.verify(&aggregate.statement, &aggregate.bytes).map_err(anyhow::Error::msg))?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Calibration {
        provisional: false,
        note: format!(
            "zkcrowd calibrate: median of {runs} runs on {cpus} CPUs ({}); verify {verify_ms:.1} ms; proof {} bytes",
            cpu_model().unwrap_or_else(|| "unknown CPU".into()),
            aggregate.bytes.len(),
        ),
        tx_ms,
        span_ms,
        aggregate_ms,
        wrap_ms,
    })
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split(':').nth(1)?.trim().to_owned())
}

/// Measures and writes the profile to `out`.
pub fn run(cache: &Path, out: &Path, runs: usize) -> Result<Calibration> {
    let system = crate::real::load_system(cache)?;
    let wrapper = crate::real::build_wrapper(&system)?;
    let calibration = measure(&system, &wrapper, runs)?;
    let text = serde_json::to_string_pretty(&calibration)? + "\n";
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(calibration)
}
