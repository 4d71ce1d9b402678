//! Key figures of a run, computed from its tables (never from anything else).
//!
//! * block proving time: commit → root proof accepted, percentiles over blocks proven in the run;
//! * tx job latency: job created → proof accepted, for user transactions;
//! * cost per proven tx: every bounty paid (tx, system, aggregation, range-aggregation and wrap
//!   jobs) divided by the user transactions proven: what proving one user transaction cost the
//!   market, all in;
//! * plugin net income (income − penalties) percentiles and the share of plugins ending in debt;
//! * the share of accepted proofs that were real (verified plonky2) rather than modeled;
//! * L1 finality: commit → accepted on L1, when the run has an L1.
//!
//! Percentiles are nearest-rank on the sorted values.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// The key figures (all optional: a run may have no proven block, no L1, no plugin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyFigures {
    /// Block proving time p50, seconds.
    pub block_proving_p50_s: Option<f64>,
    /// Block proving time p95, seconds.
    pub block_proving_p95_s: Option<f64>,
    /// Block proving time p99, seconds.
    pub block_proving_p99_s: Option<f64>,
    /// Tx job latency p50, seconds.
    pub tx_latency_p50_s: Option<f64>,
    /// Tx job latency p95, seconds.
    pub tx_latency_p95_s: Option<f64>,
    /// Tx job latency p99, seconds.
    pub tx_latency_p99_s: Option<f64>,
    /// Bounties paid per user transaction proven, ZKPoW.
    pub cost_per_proven_tx_zkpow: Option<f64>,
    /// User transactions proven.
    pub txs_proven: u64,
    /// Bounties paid in all, ZKPoW.
    pub bounties_zkpow: f64,
    /// Net plugin income p10, ZKPoW.
    pub plugin_income_p10_zkpow: Option<f64>,
    /// Net plugin income p50, ZKPoW.
    pub plugin_income_p50_zkpow: Option<f64>,
    /// Net plugin income p90, ZKPoW.
    pub plugin_income_p90_zkpow: Option<f64>,
    /// Plugins whose final market balance is negative, as a share.
    pub plugins_in_debt_share: Option<f64>,
    /// Accepted proofs that were real, as a share.
    pub real_proof_share: Option<f64>,
    /// Accepted proofs.
    pub proofs_accepted: u64,
    /// L1 finality p50, seconds.
    pub l1_finality_p50_s: Option<f64>,
    /// L1 finality p95, seconds.
    pub l1_finality_p95_s: Option<f64>,
}

/// The `q` percentile (0..=1) of `values`, nearest rank; `None` if empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The non-null values of a float column.
pub fn floats(frame: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    Ok(frame.column(name)?.f64()?.iter().flatten().collect())
}

fn strings(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame.column(name)?.str()?.iter().map(|s| s.map(str::to_owned)).collect())
}

impl KeyFigures {
    /// Computes the figures from a run's tables.
    pub fn from_tables(tables: &crate::RunTables) -> PolarsResult<Self> {
        let proving = floats(&tables.blocks, "proving_s")?;
        let l1: Vec<f64> = {
            let committed = tables.blocks.column("committed_s")?.f64()?;
            let accepted = tables.blocks.column("l1_accepted_s")?.f64()?;
            committed.iter().zip(accepted.iter()).filter_map(|(c, a)| Some(a? - c?)).collect()
        };
        let jobs = &tables.jobs;
        let kinds = strings(jobs, "kind")?;
        let outcomes = strings(jobs, "outcome")?;
        let proofs = strings(jobs, "proof")?;
        let latency: Vec<Option<f64>> = jobs.column("latency_s")?.f64()?.iter().collect();
        let bounty: Vec<Option<f64>> = jobs.column("bounty_zkpow")?.f64()?.iter().collect();
        let mut tx_latency = Vec::new();
        let mut txs_proven = 0u64;
        let mut bounties = 0.0;
        let mut proofs_accepted = 0u64;
        let mut real = 0u64;
        for i in 0..jobs.height() {
            let proven = outcomes[i].as_deref().is_some_and(|o| o.starts_with("proven"));
            if !proven {
                continue;
            }
            proofs_accepted += 1;
            bounties += bounty[i].unwrap_or(0.0);
            if proofs[i].as_deref() == Some("real") {
                real += 1;
            }
            if kinds[i].as_deref() == Some("tx") {
                txs_proven += 1;
                tx_latency.extend(latency[i]);
            }
        }
        let income = floats(&tables.plugins, "income_zkpow")?;
        let penalties = floats(&tables.plugins, "penalties_zkpow")?;
        let net: Vec<f64> = income.iter().zip(&penalties).map(|(i, p)| i - p).collect();
        let balances = floats(&tables.plugins, "final_balance_zkpow")?;
        let in_debt = (!balances.is_empty())
            .then(|| balances.iter().filter(|b| **b < 0.0).count() as f64 / balances.len() as f64);
        Ok(Self {
            block_proving_p50_s: percentile(&proving, 0.50),
            block_proving_p95_s: percentile(&proving, 0.95),
            block_proving_p99_s: percentile(&proving, 0.99),
            tx_latency_p50_s: percentile(&tx_latency, 0.50),
            tx_latency_p95_s: percentile(&tx_latency, 0.95),
            tx_latency_p99_s: percentile(&tx_latency, 0.99),
            cost_per_proven_tx_zkpow: (txs_proven > 0).then(|| bounties / txs_proven as f64),
            txs_proven,
            bounties_zkpow: bounties,
            plugin_income_p10_zkpow: percentile(&net, 0.10),
            plugin_income_p50_zkpow: percentile(&net, 0.50),
            plugin_income_p90_zkpow: percentile(&net, 0.90),
            plugins_in_debt_share: in_debt,
            real_proof_share: (proofs_accepted > 0).then(|| real as f64 / proofs_accepted as f64),
            proofs_accepted,
            l1_finality_p50_s: percentile(&l1, 0.50),
            l1_finality_p95_s: percentile(&l1, 0.95),
        })
    }
}

/// Per-behaviour totals of the plugins table (polars group-by), for the report.
pub fn by_behaviour(plugins: &DataFrame) -> PolarsResult<DataFrame> {
    plugins
        .clone()
        .lazy()
        .with_column((col("income_zkpow") - col("penalties_zkpow")).alias("net_zkpow"))
        .group_by([col("behaviour")])
        .agg([
            len().alias("plugins"),
            col("net_zkpow").mean().alias("mean_net_zkpow"),
            col("net_zkpow").median().alias("median_net_zkpow"),
            col("proofs_accepted").sum().alias("proofs_accepted"),
            col("jobs_missed").sum().alias("jobs_missed"),
            col("final_balance_zkpow").lt(lit(0.0)).cast(DataType::Float64).mean().alias("in_debt_share"),
        ])
        .sort(["behaviour"], Default::default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentiles on a known vector.
    #[test]
    fn percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(50.0));
        assert_eq!(percentile(&values, 0.95), Some(95.0));
        assert_eq!(percentile(&values, 1.0), Some(100.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.01), Some(7.0));
    }
}
