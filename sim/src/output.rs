//! What a run writes: `summary.json` (with the key figures) and the tables (Parquet, CSV on
//! request) through the reports crate; the report (charts, `report.html`) is rendered from them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use zkcrowd_reports::{BlockRow, JobRow, KeyFigures, PluginRow, RunTables, SampleRow};

use crate::agents::Behaviour;
use crate::observer::{Observer, PluginTotals, Verdict};
use crate::runner::RunOutput;
use crate::scenario::{Checker, FailureClass, Scenario};

/// Exit status of a run whose checks all held.
pub const EXIT_OK: u8 = 0;
/// Exit status for a scenario or usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when a correctness check failed (see [`Checker::class`]).
pub const EXIT_CORRECTNESS: u8 = 3;
/// Exit status when only liveness checks failed (see [`Checker::class`]).
pub const EXIT_LIVENESS: u8 = 4;
/// Exit status when the simulation crashed (a panic in node or simulator code).
pub const EXIT_CRASH: u8 = 5;

/// The exit status for a run's verdicts: from the failure class each violated checker declares;
/// correctness outranks liveness. A verdict under a name no checker declares counts as a
/// correctness failure (it cannot pass unnoticed).
pub fn exit_code(verdicts: &BTreeMap<&'static str, Verdict>) -> u8 {
    verdicts
        .iter()
        .filter(|(_, verdict)| matches!(verdict, Verdict::Violated(_)))
        .map(|(name, _)| Checker::from_name(name).map_or(FailureClass::Correctness, Checker::class))
        .min()
        .map_or(EXIT_OK, FailureClass::exit_code)
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
    let proven: Vec<u64> =
        observer.blocks.values().filter_map(|b| b.fully_proven_ms.map(|p| p - b.committed_ms)).collect();
    let latency_percentile = |q: f64| percentile(&proven, q).map(|ms| ms as f64 / 1_000.0);
    json!({
        "scenario": scenario.name,
        "scenario_file": scenario_path,
        "seed": seed,
        "digest": observer.digest().to_string(),
        "sim_seconds": output.sim_ms as f64 / 1_000.0,
        "wall_seconds": wall_seconds,
        "txs_submitted": observer.submitted_count(),
        "consensus": {
            // User txs: first submission to commit on the reference chain, seconds.
            "tx_finality_p50_s": percentile(&observer.finality_ms, 0.5).map(|ms| ms as f64 / 1_000.0),
            "tx_finality_p95_s": percentile(&observer.finality_ms, 0.95).map(|ms| ms as f64 / 1_000.0),
            // Distinct (height, round, type) slots in which each validator sent two different messages.
            "equivocations": observer
                .equivocations()
                .iter()
                .map(|(validator, count)| (validator.to_string(), json!(count)))
                .collect::<serde_json::Map<_, _>>(),
        },
        "txs_dropped_by_crash": observer.dropped_by_crash().0,
        "txs_dropped_by_crash_then_committed": observer.dropped_by_crash().1,
        "txs_committed": stats.user_txs_committed,
        "system_txs_committed": stats.txs_committed - stats.user_txs_committed,
        "txs_proven": stats.tx_jobs_proven,
        "blocks_committed": observer.blocks.len(),
        "blocks_fully_proven": observer.blocks.values().filter(|b| b.fully_proven_ms.is_some()).count(),
        "blocks_on_l1": output.l1.as_ref().map_or(0, |l1| l1.proven_head),
        "l1": l1_summary(output),
        "proofs_real": stats.proofs_real,
        "proofs_modeled": stats.proofs_modeled,
        "proofs_rejected": stats.proofs_rejected,
        "jobs_missed": stats.jobs_missed,
        "rewards_zkpow": stats.rewards_wei as f64 / 1e18,
        "penalties_zkpow": stats.penalties_wei as f64 / 1e18,
        "shortfall_minted_zkpow": stats.shortfall_wei as f64 / 1e18,
        "block_proving_seconds": { "p50": latency_percentile(0.5), "p95": latency_percentile(0.95), "p99": latency_percentile(0.99) },
        "real_proving": real_proving(scenario, observer),
        "cost_profile": { "name": format!("{:?}", output.cost.name), "tx_ms": output.cost.tx_ms, "span_ms": output.cost.span_ms, "aggregate_ms": output.cost.aggregate_ms, "provisional": output.cost.provisional },
        "network": {
            "messages": output.net.sent,
            "bytes": output.net.bytes,
            "lost": output.net.lost,
            "partitioned": output.net.partitioned,
            "malformed": output.net.malformed,
        },
        "validator_heads": output.heads.iter().map(|(h, hash, status)| json!({ "height": h, "hash": hash.to_string(), "status": status })).collect::<Vec<_>>(),
        "event_log_entries": observer.entries(),
        "fault_windows": observer.fault_windows.iter().map(|(start, end, what)| json!({ "start_s": *start as f64 / 1_000.0, "end_s": *end as f64 / 1_000.0, "what": what })).collect::<Vec<_>>(),
        "exit_code": exit_code(&output.verdicts),
        "checks": checks,
    })
}

/// The L1: which verifier, where the Rollup is, its proven head next to the L2's, submissions by
/// outcome, gas per accepted block (a range's gas shared evenly by its blocks) and per L2 user
/// transaction, and the time from L2 commit to L1 acceptance.
fn l1_summary(output: &RunOutput) -> Value {
    let Some(l1) = &output.l1 else { return json!({ "kind": "none" }) };
    let observer = &output.observer;
    let outcomes = &observer.l1_outcomes;
    let (l1_blocks, l1_gas_total) = observer.l1_blocks;
    let accepted: Vec<&crate::observer::BlockRow> =
        observer.blocks.values().filter(|b| b.l1_accepted_ms.is_some()).collect();
    let mut gas: Vec<u64> = accepted.iter().filter_map(|b| b.l1_gas).collect();
    gas.sort_unstable();
    let user_txs: u64 = accepted.iter().map(|b| u64::from(b.user_txs)).sum();
    let gas_sum: u64 = gas.iter().sum();
    let latency: Vec<u64> = accepted.iter().filter_map(|b| b.l1_accepted_ms.map(|t| t - b.committed_ms)).collect();
    let mut latency_sorted = latency.clone();
    latency_sorted.sort_unstable();
    let seconds = |q: f64| percentile(&latency_sorted, q).map(|ms| ms as f64 / 1_000.0);
    json!({
        "kind": l1.kind,
        "verifier": match l1.verifier_kind {
            Some(zkcrowd_l1::VerifierKind::Wrapped) =>
                "WrapperVerifier (generated; verifies each range's wrapped plonky2 proof on the L1)",
            _ => "simulation-only ModeledProofVerifier (modeled proof records, not plonky2 proofs)",
        },
        "rollup": l1.rollup.to_string(),
        "verifier_address": l1.verifier.to_string(),
        "proven_head": l1.proven_head,
        "l2_fully_proven_head": observer.fully_proven_head(),
        "l1_head_number": l1.l1_head,
        "l1_head_hash": l1.l1_head_hash.map(|h| h.to_string()),
        "deploy_gas": l1.deploy_gas,
        "gas_total": l1_gas_total,
        "submissions": outcomes,
        "gas_per_block": { "mean": (!gas.is_empty()).then(|| gas_sum as f64 / gas.len() as f64), "p50": percentile(&gas, 0.5), "max": gas.last() },
        "gas_per_l2_user_tx": (user_txs > 0).then(|| gas_sum as f64 / user_txs as f64),
        "l2_commit_to_l1_seconds": { "p50": seconds(0.5), "p95": seconds(0.95), "max": seconds(1.0) },
        "l1_blocks_mined": l1_blocks,
    })
}

/// Real proofs: the policy, how many were produced (and failed), and per job kind the median
/// measured wall-clock time next to the median modeled time of the same proofs.
fn real_proving(scenario: &Scenario, observer: &Observer) -> serde_json::Value {
    let mut by_kind: BTreeMap<&str, (Vec<f64>, Vec<u64>)> = BTreeMap::new();
    for (kind, measured_ms, modeled_ms) in &observer.measured {
        let name = kind.name();
        let entry = by_kind.entry(name).or_default();
        entry.0.push(*measured_ms);
        entry.1.push(*modeled_ms);
    }
    let kinds: serde_json::Map<String, serde_json::Value> = by_kind
        .into_iter()
        .map(|(name, (mut measured, mut modeled))| {
            measured.sort_by(f64::total_cmp);
            modeled.sort_unstable();
            let value = json!({
                "count": measured.len(),
                "measured_ms_p50": measured[measured.len() / 2],
                "modeled_ms_p50": modeled[modeled.len() / 2],
            });
            (name.to_owned(), value)
        })
        .collect();
    json!({
        "policy": scenario.proofs.real,
        "produced": observer.measured.len(),
        "failed": observer.stats.real_proof_failures,
        "by_kind": kinds,
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

fn ms(value: u64) -> f64 {
    value as f64 / 1_000.0
}

fn behaviour_name(behaviour: Behaviour) -> &'static str {
    match behaviour {
        Behaviour::Honest => "honest",
        Behaviour::Lazy => "lazy",
        Behaviour::InvalidProofs => "invalid_proofs",
        Behaviour::Copier => "copier",
        Behaviour::Withholder => "withholder",
    }
}

/// The run's tables, through the reports crate (documented schema, polars DataFrames).
pub fn tables(output: &mut RunOutput) -> Result<RunTables> {
    let observer = &mut output.observer;
    observer.close_sessions(output.sim_ms);
    let blocks: Vec<BlockRow> = observer
        .blocks
        .values()
        .map(|b| BlockRow {
            height: b.height,
            hash: b.hash.to_string(),
            committed_s: ms(b.committed_ms),
            txs: u64::from(b.txs),
            user_txs: u64::from(b.user_txs),
            gas_used: b.gas_used,
            base_fee_gwei: b.base_fee_wei as f64 / 1e9,
            proposer: b.proposer.to_string(),
            round: u64::from(b.round),
            fully_proven_s: b.fully_proven_ms.map(ms),
            l1_accepted_s: b.l1_accepted_ms.map(ms),
            l1_gas: b.l1_gas,
        })
        .collect();
    let jobs: Vec<JobRow> = observer
        .jobs
        .iter()
        .map(|j| JobRow {
            job: j.job,
            kind: j.kind.to_owned(),
            block: j.block,
            created_s: ms(j.created_ms),
            attempt: u64::from(j.attempt),
            plugin: j.plugin.to_string(),
            assigned_s: ms(j.assigned_ms),
            outcome: j.outcome.to_owned(),
            outcome_s: j.outcome_ms.map(ms),
            bounty_zkpow: j.bounty_wei.map(|w| w as f64 / 1e18),
            proof: j.proof.map(|p| match p {
                zkcrowd_market::ProofKind::Real => "real".to_owned(),
                zkcrowd_market::ProofKind::Modeled => "modeled".to_owned(),
            }),
        })
        .collect();
    let plugins: Vec<PluginRow> = output
        .plugins
        .iter()
        .enumerate()
        .map(|(index, (address, behaviour, speed))| {
            let totals = observer.plugin_totals.get(address).copied().unwrap_or_default();
            let sessions: PluginTotals = observer.sessions.get(&(index as u32)).copied().unwrap_or_default();
            PluginRow {
                plugin: address.to_string(),
                index: index as u64,
                behaviour: behaviour_name(*behaviour).to_owned(),
                speed: *speed,
                sessions: sessions.sessions,
                online_s: ms(sessions.online_ms),
                jobs_assigned: totals.jobs_assigned,
                proofs_accepted: totals.proofs_accepted,
                jobs_missed: totals.jobs_missed,
                income_zkpow: totals.income_wei as f64 / 1e18,
                penalties_zkpow: totals.penalties_wei as f64 / 1e18,
                final_balance_zkpow: output.market_balances.get(address).copied().unwrap_or(0) as f64 / 1e18,
            }
        })
        .collect();
    let samples: Vec<SampleRow> = observer
        .samples
        .iter()
        .map(|s| SampleRow {
            height: s.height,
            t_s: ms(s.t_ms),
            active_plugins: s.active_plugins,
            open_jobs: s.open_jobs,
            assigned_jobs: s.assigned_jobs,
            backlog_blocks: s.unproven_blocks,
            bounty_zkpow: s.fresh_bounty_wei as f64 / 1e18,
            pool_zkpow: s.pool_wei as f64 / 1e18,
            issued_zkpow: s.issued_wei as f64 / 1e18,
            mempool: s.mempool,
        })
        .collect();
    RunTables::from_rows(&blocks, &jobs, &plugins, &samples).map_err(|e| anyhow::anyhow!("building tables: {e}"))
}

/// Writes the tables (Parquet, and CSV if asked), the key figures into `summary`, then
/// `summary.json`; returns the key figures.
pub fn write(dir: &Path, summary: &mut Value, output: &mut RunOutput, csv: bool) -> Result<KeyFigures> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tables = tables(output)?;
    tables.write(dir, csv).map_err(|e| anyhow::anyhow!("writing tables: {e}"))?;
    let figures = KeyFigures::from_tables(&tables).map_err(|e| anyhow::anyhow!("key figures: {e}"))?;
    summary["key_figures"] = serde_json::to_value(&figures)?;
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(summary)?)?;
    Ok(figures)
}
