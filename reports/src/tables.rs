//! The run tables: rows as the simulator produces them, DataFrames with a documented schema, and
//! Parquet (CSV on request) on disk.
//!
//! | Table | One row per | File |
//! | --- | --- | --- |
//! | blocks | committed block | `blocks.parquet` |
//! | jobs | assignment attempt of a job (and jobs never assigned) | `jobs.parquet` |
//! | plugins | plugin identity | `plugins.parquet` |
//! | timeseries | block, sampled right after its commit | `timeseries.parquet` |
//!
//! Times are seconds of simulated time (`_s`), amounts ZKPoW (`_zkpow`, 18 decimals as a float:
//! tables are for analysis; exact wei stay in the chain), gas in gas units. [`SCHEMA`] lists every
//! column with its type and meaning; `docs/tables.md` is generated from it.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

/// Column types of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Unsigned 64-bit integer.
    U64,
    /// 64-bit float.
    F64,
    /// UTF-8 string.
    Str,
    /// Boolean.
    Bool,
}

impl ColumnType {
    fn dtype(self) -> DataType {
        match self {
            Self::U64 => DataType::UInt64,
            Self::F64 => DataType::Float64,
            Self::Str => DataType::String,
            Self::Bool => DataType::Boolean,
        }
    }

    /// The type's name in the documentation.
    pub fn name(self) -> &'static str {
        match self {
            Self::U64 => "u64",
            Self::F64 => "f64",
            Self::Str => "string",
            Self::Bool => "bool",
        }
    }
}

/// One documented column: (name, type, nullable, meaning).
pub type ColumnDoc = (&'static str, ColumnType, bool, &'static str);

/// Every table's columns, in order.
pub const SCHEMA: &[(&str, &[ColumnDoc])] =
    &[("blocks", BLOCK_COLUMNS), ("jobs", JOB_COLUMNS), ("plugins", PLUGIN_COLUMNS), ("timeseries", SAMPLE_COLUMNS)];

const BLOCK_COLUMNS: &[ColumnDoc] = &[
    ("height", ColumnType::U64, false, "block number"),
    ("hash", ColumnType::Str, false, "block hash (hex)"),
    ("committed_s", ColumnType::F64, false, "first commit by any validator"),
    ("txs", ColumnType::U64, false, "transactions, all kinds"),
    ("user_txs", ColumnType::U64, false, "user transactions"),
    ("gas_used", ColumnType::U64, false, "gas used"),
    ("base_fee_gwei", ColumnType::F64, false, "EIP-1559 base fee"),
    ("proposer", ColumnType::Str, false, "proposing validator's address"),
    ("round", ColumnType::U64, false, "consensus round of the decision (0 = first try)"),
    ("fully_proven_s", ColumnType::F64, true, "root proof accepted (null: not during the run)"),
    ("proving_s", ColumnType::F64, true, "fully_proven_s - committed_s"),
    ("l1_accepted_s", ColumnType::F64, true, "accepted by the L1 rollup contract (null: no L1 or not yet)"),
    ("l1_gas", ColumnType::U64, true, "L1 gas of its submission (null: no L1)"),
];

const JOB_COLUMNS: &[ColumnDoc] = &[
    ("job", ColumnType::U64, false, "job id"),
    ("kind", ColumnType::Str, false, "tx, system, aggregate, range_aggregate or wrap"),
    ("block", ColumnType::U64, false, "the block the job proves part of"),
    ("created_s", ColumnType::F64, false, "job creation"),
    ("attempt", ColumnType::U64, false, "0 for the first assignment"),
    ("plugin", ColumnType::Str, false, "assignee"),
    ("assigned_s", ColumnType::F64, false, "assignment"),
    ("outcome", ColumnType::Str, false, "proven, proven_by_other, missed, abandoned or open"),
    ("outcome_s", ColumnType::F64, true, "when the outcome happened"),
    ("latency_s", ColumnType::F64, true, "outcome_s - created_s for proven attempts"),
    ("bounty_zkpow", ColumnType::F64, true, "reward paid for a proven attempt"),
    ("proof", ColumnType::Str, true, "real or modeled, for proven attempts"),
];

const PLUGIN_COLUMNS: &[ColumnDoc] = &[
    ("plugin", ColumnType::Str, false, "address"),
    ("index", ColumnType::U64, false, "identity index in the scenario"),
    ("behaviour", ColumnType::Str, false, "honest, lazy, invalid_proofs, copier or withholder"),
    ("speed", ColumnType::F64, false, "device speed relative to the cost profile's reference"),
    ("sessions", ColumnType::U64, false, "sessions started"),
    ("online_s", ColumnType::F64, false, "time online"),
    ("jobs_assigned", ColumnType::U64, false, "assignments received"),
    ("proofs_accepted", ColumnType::U64, false, "proofs accepted"),
    ("jobs_missed", ColumnType::U64, false, "deadlines missed and jobs abandoned"),
    ("income_zkpow", ColumnType::F64, false, "rewards received"),
    ("penalties_zkpow", ColumnType::F64, false, "penalties charged"),
    ("final_balance_zkpow", ColumnType::F64, false, "market balance at the end (negative: debt)"),
];

const SAMPLE_COLUMNS: &[ColumnDoc] = &[
    ("height", ColumnType::U64, false, "block number"),
    ("t_s", ColumnType::F64, false, "commit time"),
    ("active_plugins", ColumnType::U64, false, "plugins active (heartbeat within the window)"),
    ("open_jobs", ColumnType::U64, false, "jobs waiting for an assignee"),
    ("assigned_jobs", ColumnType::U64, false, "jobs assigned, unproven"),
    ("backlog_blocks", ColumnType::U64, false, "committed blocks not yet fully proven"),
    ("bounty_zkpow", ColumnType::F64, false, "bounty of a fresh tx job at this block (base x age x supply)"),
    ("pool_zkpow", ColumnType::F64, false, "reward pool"),
    ("issued_zkpow", ColumnType::F64, false, "issuance so far"),
    ("mempool", ColumnType::U64, false, "pending transactions at the committing validator"),
];

/// A block, as the simulator reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRow {
    /// Height.
    pub height: u64,
    /// Hash (hex).
    pub hash: String,
    /// First commit, seconds.
    pub committed_s: f64,
    /// Transactions.
    pub txs: u64,
    /// User transactions.
    pub user_txs: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Base fee, gwei.
    pub base_fee_gwei: f64,
    /// Proposer (hex).
    pub proposer: String,
    /// Decision round.
    pub round: u64,
    /// Fully proven, seconds.
    pub fully_proven_s: Option<f64>,
    /// L1 acceptance, seconds.
    pub l1_accepted_s: Option<f64>,
    /// L1 gas.
    pub l1_gas: Option<u64>,
}

/// An assignment attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// Job id.
    pub job: u64,
    /// Kind.
    pub kind: String,
    /// Block.
    pub block: u64,
    /// Created, seconds.
    pub created_s: f64,
    /// Attempt.
    pub attempt: u64,
    /// Assignee (hex).
    pub plugin: String,
    /// Assigned, seconds.
    pub assigned_s: f64,
    /// Outcome.
    pub outcome: String,
    /// Outcome time, seconds.
    pub outcome_s: Option<f64>,
    /// Bounty, ZKPoW.
    pub bounty_zkpow: Option<f64>,
    /// Proof kind.
    pub proof: Option<String>,
}

/// A plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRow {
    /// Address (hex).
    pub plugin: String,
    /// Index.
    pub index: u64,
    /// Behaviour.
    pub behaviour: String,
    /// Device speed.
    pub speed: f64,
    /// Sessions.
    pub sessions: u64,
    /// Online, seconds.
    pub online_s: f64,
    /// Jobs assigned.
    pub jobs_assigned: u64,
    /// Proofs accepted.
    pub proofs_accepted: u64,
    /// Jobs missed.
    pub jobs_missed: u64,
    /// Income, ZKPoW.
    pub income_zkpow: f64,
    /// Penalties, ZKPoW.
    pub penalties_zkpow: f64,
    /// Final market balance, ZKPoW.
    pub final_balance_zkpow: f64,
}

/// A per-block sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// Height.
    pub height: u64,
    /// Time, seconds.
    pub t_s: f64,
    /// Active plugins.
    pub active_plugins: u64,
    /// Open jobs.
    pub open_jobs: u64,
    /// Assigned jobs.
    pub assigned_jobs: u64,
    /// Unproven blocks.
    pub backlog_blocks: u64,
    /// Fresh bounty, ZKPoW.
    pub bounty_zkpow: f64,
    /// Pool, ZKPoW.
    pub pool_zkpow: f64,
    /// Issued, ZKPoW.
    pub issued_zkpow: f64,
    /// Mempool.
    pub mempool: u64,
}

/// The four tables of a run.
#[derive(Debug, Clone)]
pub struct RunTables {
    /// Blocks.
    pub blocks: DataFrame,
    /// Jobs.
    pub jobs: DataFrame,
    /// Plugins.
    pub plugins: DataFrame,
    /// Time series.
    pub timeseries: DataFrame,
}

macro_rules! frame {
    ($rows:expr, $( $name:literal => |$row:ident| $value:expr ),+ $(,)?) => {{
        let rows = $rows;
        DataFrame::new_infer_height(vec![
            $( Column::from(Series::new($name.into(), rows.iter().map(|$row| $value).collect::<Vec<_>>())), )+
        ])
    }};
}

impl RunTables {
    /// Builds the DataFrames from the simulator's rows.
    pub fn from_rows(
        blocks: &[BlockRow],
        jobs: &[JobRow],
        plugins: &[PluginRow],
        samples: &[SampleRow],
    ) -> PolarsResult<Self> {
        let blocks = frame!(blocks,
            "height" => |r| r.height,
            "hash" => |r| r.hash.clone(),
            "committed_s" => |r| r.committed_s,
            "txs" => |r| r.txs,
            "user_txs" => |r| r.user_txs,
            "gas_used" => |r| r.gas_used,
            "base_fee_gwei" => |r| r.base_fee_gwei,
            "proposer" => |r| r.proposer.clone(),
            "round" => |r| r.round,
            "fully_proven_s" => |r| r.fully_proven_s,
            "proving_s" => |r| r.fully_proven_s.map(|p| p - r.committed_s),
            "l1_accepted_s" => |r| r.l1_accepted_s,
            "l1_gas" => |r| r.l1_gas,
        )?;
        let jobs = frame!(jobs,
            "job" => |r| r.job,
            "kind" => |r| r.kind.clone(),
            "block" => |r| r.block,
            "created_s" => |r| r.created_s,
            "attempt" => |r| r.attempt,
            "plugin" => |r| r.plugin.clone(),
            "assigned_s" => |r| r.assigned_s,
            "outcome" => |r| r.outcome.clone(),
            "outcome_s" => |r| r.outcome_s,
            "latency_s" => |r| if r.outcome.starts_with("proven") { r.outcome_s.map(|o| o - r.created_s) } else { None },
            "bounty_zkpow" => |r| r.bounty_zkpow,
            "proof" => |r| r.proof.clone(),
        )?;
        let plugins = frame!(plugins,
            "plugin" => |r| r.plugin.clone(),
            "index" => |r| r.index,
            "behaviour" => |r| r.behaviour.clone(),
            "speed" => |r| r.speed,
            "sessions" => |r| r.sessions,
            "online_s" => |r| r.online_s,
            "jobs_assigned" => |r| r.jobs_assigned,
            "proofs_accepted" => |r| r.proofs_accepted,
            "jobs_missed" => |r| r.jobs_missed,
            "income_zkpow" => |r| r.income_zkpow,
            "penalties_zkpow" => |r| r.penalties_zkpow,
            "final_balance_zkpow" => |r| r.final_balance_zkpow,
        )?;
        let timeseries = frame!(samples,
            "height" => |r| r.height,
            "t_s" => |r| r.t_s,
            "active_plugins" => |r| r.active_plugins,
            "open_jobs" => |r| r.open_jobs,
            "assigned_jobs" => |r| r.assigned_jobs,
            "backlog_blocks" => |r| r.backlog_blocks,
            "bounty_zkpow" => |r| r.bounty_zkpow,
            "pool_zkpow" => |r| r.pool_zkpow,
            "issued_zkpow" => |r| r.issued_zkpow,
            "mempool" => |r| r.mempool,
        )?;
        let tables = Self { blocks, jobs, plugins, timeseries };
        tables.check_schema()?;
        Ok(tables)
    }

    fn named(&self) -> [(&'static str, &DataFrame); 4] {
        [("blocks", &self.blocks), ("jobs", &self.jobs), ("plugins", &self.plugins), ("timeseries", &self.timeseries)]
    }

    /// Fails unless every table has exactly the documented columns, types and nullability.
    pub fn check_schema(&self) -> PolarsResult<()> {
        for ((name, frame), (doc_name, columns)) in self.named().iter().zip(SCHEMA) {
            debug_assert_eq!(name, doc_name);
            let actual: Vec<(String, DataType)> =
                frame.columns().iter().map(|c| (c.name().to_string(), c.dtype().clone())).collect();
            let expected: Vec<(String, DataType)> =
                columns.iter().map(|(n, t, _, _)| (n.to_string(), t.dtype())).collect();
            if actual != expected {
                polars_bail!(SchemaMismatch: "table {name}: columns {actual:?}, documented {expected:?}");
            }
            for (column, (n, _, nullable, _)) in frame.columns().iter().zip(columns.iter()) {
                if !nullable && column.null_count() > 0 {
                    polars_bail!(SchemaMismatch: "table {name}: column {n} has nulls");
                }
            }
        }
        Ok(())
    }

    /// Writes `NAME.parquet` for each table into `dir`, and `NAME.csv` too when `csv` is set.
    pub fn write(&self, dir: &Path, csv: bool) -> PolarsResult<()> {
        for (name, frame) in self.named() {
            let mut frame = frame.clone();
            let file = File::create(dir.join(format!("{name}.parquet")))?;
            ParquetWriter::new(file).finish(&mut frame)?;
            if csv {
                let mut file = File::create(dir.join(format!("{name}.csv")))?;
                CsvWriter::new(&mut file).finish(&mut frame)?;
            }
        }
        Ok(())
    }

    /// Reads the tables written by [`Self::write`] and checks their schema.
    pub fn read(dir: &Path) -> PolarsResult<Self> {
        let read = |name: &str| -> PolarsResult<DataFrame> {
            let path = dir.join(format!("{name}.parquet"));
            let file =
                File::open(&path).map_err(|e| polars_err!(ComputeError: "cannot open {}: {e}", path.display()))?;
            ParquetReader::new(file).finish()
        };
        let tables = Self {
            blocks: read("blocks")?,
            jobs: read("jobs")?,
            plugins: read("plugins")?,
            timeseries: read("timeseries")?,
        };
        tables.check_schema()?;
        Ok(tables)
    }
}

/// The schema as a Markdown reference (`docs/tables.md`).
pub fn schema_markdown() -> String {
    let mut out = String::from(
        "# Run tables\n\nWritten by `zkcrowd run` as Parquet (`--csv` adds CSV). Generated from \
         `reports/src/tables.rs` (`zkcrowd tables-doc`); a test keeps it in step.\n",
    );
    for (table, columns) in SCHEMA {
        out.push_str(&format!(
            "\n## `{table}.parquet`\n\n| Column | Type | Null | Meaning |\n| --- | --- | --- | --- |\n"
        ));
        for (name, kind, nullable, meaning) in columns.iter() {
            out.push_str(&format!(
                "| `{name}` | {} | {} | {meaning} |\n",
                kind.name(),
                if *nullable { "yes" } else { "no" }
            ));
        }
    }
    out
}
