//! What a run writes: `summary.json` and the tables (CSV: `blocks.csv`, `jobs.csv`,
//! `plugins.csv`, `timeseries.csv`). The reports step turns the tables into Parquet and charts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::agents::Behaviour;
use crate::observer::{PluginTotals, Verdict};
use crate::runner::RunOutput;
use crate::scenario::Scenario;

/// Exit status of a run whose checks all held.
pub const EXIT_OK: u8 = 0;
/// Exit status for a scenario or usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when a correctness check failed (roots, conservation, payments, lost txs).
pub const EXIT_CORRECTNESS: u8 = 3;
/// Exit status when only the liveness check failed.
pub const EXIT_LIVENESS: u8 = 4;
/// Exit status when the simulation crashed (a panic in node or simulator code).
pub const EXIT_CRASH: u8 = 5;

/// The exit status for a run's verdicts.
pub fn exit_code(verdicts: &BTreeMap<&'static str, Verdict>) -> u8 {
    let violated = |name: &str| matches!(verdicts.get(name), Some(Verdict::Violated(_)));
    if ["roots_agree", "token_conservation", "no_payment_to_non_assignee", "no_lost_tx"].iter().any(|n| violated(n)) {
        EXIT_CORRECTNESS
    } else if violated("liveness") {
        EXIT_LIVENESS
    } else {
        EXIT_OK
    }
}

/// The summary object.
pub fn summary(scenario: &Scenario, scenario_path: &str, seed: u64, output: &RunOutput, wall_seconds: f64) -> Value {
    let observer = &output.observer;
    let stats = observer.stats;
    let checks: serde_json::Map<String, Value> = output
        .verdicts
        .iter()
        .map(|(name, verdict)| {
            let text = match verdict {
                Verdict::Ok => "ok".to_string(),
                Verdict::Violated(reason) => format!("violated: {reason}"),
            };
            (name.to_string(), Value::String(text))
        })
        .collect();
    let proven: Vec<u64> = observer.blocks.values().filter_map(|b| b.fully_proven_ms.map(|p| p - b.committed_ms)).collect();
    let latency_percentile = |q: f64| percentile(&proven, q).map(|ms| ms as f64 / 1_000.0);
    json!({
        "scenario": scenario.name,
        "scenario_file": scenario_path,
        "seed": seed,
        "digest": observer.digest().to_string(),
        "sim_seconds": output.sim_ms as f64 / 1_000.0,
        "wall_seconds": wall_seconds,
        "txs_submitted": observer.submitted_count(),
        "txs_committed": stats.user_txs_committed,
        "system_txs_committed": stats.txs_committed - stats.user_txs_committed,
        "txs_proven": stats.tx_jobs_proven,
        "blocks_committed": observer.blocks.len(),
        "blocks_fully_proven": observer.blocks.values().filter(|b| b.fully_proven_ms.is_some()).count(),
        "blocks_on_l1": 0,
        "l1": "none (the L1 issue adds anvil and embedded L1s)",
        "proofs_real": stats.proofs_real,
        "proofs_modeled": stats.proofs_modeled,
        "proofs_rejected": stats.proofs_rejected,
        "jobs_missed": stats.jobs_missed,
        "rewards_zkpow": stats.rewards_wei as f64 / 1e18,
        "penalties_zkpow": stats.penalties_wei as f64 / 1e18,
        "shortfall_minted_zkpow": stats.shortfall_wei as f64 / 1e18,
        "block_proving_seconds": { "p50": latency_percentile(0.5), "p95": latency_percentile(0.95), "p99": latency_percentile(0.99) },
        "cost_profile": { "name": format!("{:?}", output.cost.name), "tx_ms": output.cost.tx_ms, "aggregate_ms": output.cost.aggregate_ms, "provisional": output.cost.provisional },
        "network": { "messages": output.net.sent, "lost": output.net.lost, "partitioned": output.net.partitioned },
        "validator_heads": output.heads.iter().map(|(h, hash, status)| json!({ "height": h, "hash": hash.to_string(), "status": status })).collect::<Vec<_>>(),
        "event_log_entries": observer.entries(),
        "checks": checks,
    })
}

fn percentile(values: &[u64], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[rank])
}

fn write_csv<T: Serialize>(path: &Path, rows: impl IntoIterator<Item = T>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(file));
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct PluginRow {
    plugin: String,
    index: u32,
    behaviour: &'static str,
    speed: f64,
    sessions: u64,
    online_seconds: f64,
    jobs_assigned: u64,
    proofs_accepted: u64,
    jobs_missed: u64,
    income_zkpow: f64,
    penalties_zkpow: f64,
    final_balance_zkpow: f64,
}

/// Writes `summary.json` and the tables into `dir`.
pub fn write(dir: &Path, summary: &Value, output: &mut RunOutput) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(summary)?)?;
    let observer = &mut output.observer;
    observer.close_sessions(output.sim_ms);
    write_csv(&dir.join("blocks.csv"), observer.blocks.values())?;
    write_csv(&dir.join("jobs.csv"), &observer.jobs)?;
    write_csv(&dir.join("timeseries.csv"), &observer.samples)?;
    let rows = output.plugins.iter().enumerate().map(|(index, (address, behaviour, speed))| {
        let totals = observer.plugin_totals.get(address).copied().unwrap_or_default();
        let sessions: PluginTotals = observer.sessions.get(&(index as u32)).copied().unwrap_or_default();
        PluginRow {
            plugin: address.to_string(),
            index: index as u32,
            behaviour: match behaviour {
                Behaviour::Honest => "honest",
                Behaviour::Lazy => "lazy",
                Behaviour::InvalidProofs => "invalid_proofs",
                Behaviour::Copier => "copier",
                Behaviour::Withholder => "withholder",
            },
            speed: *speed,
            sessions: sessions.sessions,
            online_seconds: sessions.online_ms as f64 / 1_000.0,
            jobs_assigned: totals.jobs_assigned,
            proofs_accepted: totals.proofs_accepted,
            jobs_missed: totals.jobs_missed,
            income_zkpow: totals.income_wei as f64 / 1e18,
            penalties_zkpow: totals.penalties_wei as f64 / 1e18,
            final_balance_zkpow: output.market_balances.get(address).copied().unwrap_or(0) as f64 / 1e18,
        }
    });
    write_csv(&dir.join("plugins.csv"), rows)?;
    Ok(())
}
