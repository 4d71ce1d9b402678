//! `zkcrowd sweep`: one base scenario, many parameter points, several seeds each.
//!
//! ```yaml
//! # Which bounty curve clears a drought fastest per ZKPoW spent?
//! name: bounty-curves
//! base: ../bounty-stress.yaml        # relative to this file
//! set: { duration: 10m }             # overrides for every point
//! seeds: 5                           # seeds 1..=5, or a list: [3, 7, 11]
//! points:                            # named points, each a map of dotted path -> value
//!   - { name: linear-cap, set: { market.bounty.age: { curve: linear, per_block: 0.1, cap: 10 } } }
//!   - { name: boundless, set: { market.bounty.age: { curve: boundless_ramp } } }
//! # or a grid (every combination):
//! # grid: { market.bounty.age.per_block: [0.05, 0.1, 0.2], market.penalty: [2 ZKPOW, 5 ZKPOW] }
//! ```
//!
//! 1. Each point's scenario is the base with the overrides applied by path, validated like any
//!    scenario, and written to `OUT/points/NAME/scenario.yaml`.
//! 2. Runs (point × seed, in that order) go to child processes, `--jobs` at a time, with a progress
//!    bar. A run whose `summary.json` exists is skipped, so an interrupted sweep resumes.
//! 3. With `--shard I/N` (or `JOB_COMPLETION_INDEX` with `ZKCROWD_SHARDS`, as in a Kubernetes
//!    Indexed Job, or a Slurm array's `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT`), only runs
//!    `k` with `k mod N = I` are done here, and their rows go to `OUT/shards/results-I-of-N.parquet`.
//! 4. The report step (`--report`, automatic when not sharded) merges every shard file into
//!    `OUT/results.parquet` and writes `OUT/sweep-report.html`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use zkcrowd_primitives::yaml;
use zkcrowd_reports::sweep::{ResultRow, merge_and_report, write_shard};

use crate::scenario::Scenario;

/// Seeds of a sweep: a count (1..=n) or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    /// Seeds 1..=n.
    Count(u64),
    /// These seeds.
    List(Vec<u64>),
}

/// A named point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Its name (a directory name).
    pub name: String,
    /// Overrides by dotted path.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
}

/// A sweep file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Name.
    pub name: String,
    /// Base scenario, relative to the sweep file.
    pub base: PathBuf,
    /// Overrides for every point.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Seeds per point.
    pub seeds: Seeds,
    /// Named points.
    #[serde(default)]
    pub points: Vec<Point>,
    /// A grid of values per path (every combination).
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<Value>>,
}

/// A resolved point.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Name.
    pub name: String,
    /// Its overrides, as JSON.
    pub overrides: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Where its scenario file is written.
    pub file: PathBuf,
}

fn set_path(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let mut node = root;
    let keys: Vec<&str> = path.split('.').collect();
    for (i, key) in keys.iter().enumerate() {
        if !node.is_object() {
            bail!("`{}` is not a section", keys[..i].join("."));
        }
        let map = node.as_object_mut().expect("checked");
        if i + 1 == keys.len() {
            map.insert((*key).to_owned(), value);
            return Ok(());
        }
        node = map.entry((*key).to_owned()).or_insert_with(|| Value::Object(Default::default()));
    }
    Ok(())
}

fn point_name(assignment: &[(String, Value)]) -> String {
    assignment
        .iter()
        .map(|(path, value)| {
            let leaf = path.rsplit('.').next().unwrap_or(path);
            let value = match value {
                Value::String(s) => s.replace(' ', ""),
                other => other.to_string(),
            };
            format!("{leaf}={value}")
        })
        .collect::<Vec<_>>()
        .join(",")
        .replace(['/', '{', '}', '"', ':'], "_")
}

/// Reads a sweep file and resolves its points (each validated as a scenario).
pub fn resolve(path: &Path, out: &Path) -> Result<(SweepFile, Vec<Resolved>, Vec<u64>)> {
    let sweep: SweepFile = yaml::from_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base_path = path.parent().unwrap_or(Path::new(".")).join(&sweep.base);
    let base: Value = yaml::from_file(&base_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut points: Vec<(String, Vec<(String, Value)>)> =
        sweep.points.iter().map(|p| (p.name.clone(), p.set.clone().into_iter().collect())).collect();
    if !sweep.grid.is_empty() {
        let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
        for (path, values) in &sweep.grid {
            combos = combos
                .into_iter()
                .flat_map(|combo| {
                    values.iter().map(move |v| {
                        let mut next = combo.clone();
                        next.push((path.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        points.extend(combos.into_iter().map(|c| (point_name(&c), c)));
    }
    if points.is_empty() {
        bail!("{}: a sweep needs `points` or a `grid`", path.display());
    }
    let mut names = std::collections::BTreeSet::new();
    let mut resolved = Vec::new();
    for (name, assignment) in points {
        if !names.insert(name.clone()) {
            bail!("{}: point `{name}` appears twice", path.display());
        }
        let mut value = base.clone();
        for (key, v) in sweep.set.iter().map(|(k, v)| (k.clone(), v.clone())).chain(assignment.iter().cloned()) {
            set_path(&mut value, &key, v).with_context(|| format!("{}: point `{name}`: {key}", path.display()))?;
        }
        set_path(&mut value, "name", Value::String(format!("{}/{name}", sweep.name)))?;
        let scenario: Scenario =
            serde_json::from_value(value).map_err(|e| anyhow::anyhow!("{}: point `{name}`: {e}", path.display()))?;
        scenario.validate().map_err(|e| anyhow::anyhow!("{}: point `{name}`: {e}", path.display()))?;
        let overrides = serde_json::to_string(&assignment.iter().cloned().collect::<BTreeMap<_, _>>())?;
        let file = out.join("points").join(&name).join("scenario.yaml");
        resolved.push(Resolved { name, overrides, scenario, file });
    }
    let seeds = match &sweep.seeds {
        Seeds::Count(n) => (1..=*n).collect(),
        Seeds::List(list) => list.clone(),
    };
    if seeds.is_empty() {
        bail!("{}: no seeds", path.display());
    }
    Ok((sweep, resolved, seeds))
}

/// Which slice of the runs this process does: (index, count).
pub fn shard_from(arg: Option<&str>) -> Result<(u64, u64)> {
    let parse = |i: &str, n: &str, source: &str| -> Result<(u64, u64)> {
        let i: u64 = i.trim().parse().with_context(|| format!("{source}: shard index `{i}` is not a number"))?;
        let n: u64 = n.trim().parse().with_context(|| format!("{source}: shard count `{n}` is not a number"))?;
        if n == 0 || i >= n {
            bail!("{source}: shard {i}/{n}: need 0 <= I < N");
        }
        Ok((i, n))
    };
    if let Some(arg) = arg {
        let (i, n) = arg.split_once('/').context("--shard takes I/N, e.g. 0/4")?;
        return parse(i, n, "--shard");
    }
    if let Ok(i) = std::env::var("JOB_COMPLETION_INDEX") {
        let n = std::env::var("ZKCROWD_SHARDS")
            .context("JOB_COMPLETION_INDEX is set: set ZKCROWD_SHARDS to the Job's completions")?;
        return parse(&i, &n, "JOB_COMPLETION_INDEX");
    }
    if let Ok(id) = std::env::var("SLURM_ARRAY_TASK_ID") {
        let min: u64 = std::env::var("SLURM_ARRAY_TASK_MIN").ok().and_then(|m| m.parse().ok()).unwrap_or(0);
        let n = std::env::var("SLURM_ARRAY_TASK_COUNT")
            .context("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let id: u64 = id.parse().context("SLURM_ARRAY_TASK_ID is not a number")?;
        return parse(&(id.saturating_sub(min)).to_string(), &n, "SLURM_ARRAY_TASK_ID");
    }
    Ok((0, 1))
}

/// Options of `zkcrowd sweep`.
#[derive(Debug, Clone)]
pub struct SweepArgs {
    /// Sweep file.
    pub file: PathBuf,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// Parallel processes.
    pub jobs: usize,
    /// `I/N`.
    pub shard: Option<String>,
    /// Only merge shards and write the report.
    pub report_only: bool,
}

fn summary_row(point: &Resolved, index: usize, seed: u64, dir: &Path, exit: Option<i32>) -> Result<ResultRow> {
    let bytes = std::fs::read(dir.join("summary.json")).with_context(|| format!("no summary in {}", dir.display()))?;
    let summary: Value = serde_json::from_slice(&bytes)?;
    let checks = summary["checks"].as_object().cloned().unwrap_or_default();
    let violations: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v.as_str() != Some("ok"))
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .collect();
    let figures = &summary["key_figures"];
    let f = |key: &str| figures[key].as_f64();
    Ok(ResultRow {
        point: point.name.clone(),
        point_index: index as u64,
        overrides: point.overrides.clone(),
        seed,
        digest: summary["digest"].as_str().unwrap_or_default().to_owned(),
        exit_code: exit.map(|c| c as i64).unwrap_or(summary["exit_code"].as_i64().unwrap_or(-1)),
        checks_ok: violations.is_empty(),
        violations: violations.join("; "),
        blocks_committed: summary["blocks_committed"].as_u64().unwrap_or(0),
        blocks_fully_proven: summary["blocks_fully_proven"].as_u64().unwrap_or(0),
        txs_committed: summary["txs_committed"].as_u64().unwrap_or(0),
        jobs_missed: summary["jobs_missed"].as_u64().unwrap_or(0),
        proofs_rejected: summary["proofs_rejected"].as_u64().unwrap_or(0),
        shortfall_zkpow: summary["shortfall_minted_zkpow"].as_f64().unwrap_or(0.0),
        block_proving_p50_s: f("block_proving_p50_s"),
        block_proving_p95_s: f("block_proving_p95_s"),
        tx_latency_p50_s: f("tx_latency_p50_s"),
        tx_latency_p95_s: f("tx_latency_p95_s"),
        cost_per_proven_tx_zkpow: f("cost_per_proven_tx_zkpow"),
        plugin_income_p50_zkpow: f("plugin_income_p50_zkpow"),
        plugins_in_debt_share: f("plugins_in_debt_share"),
        blocks_on_l1: summary["blocks_on_l1"].as_u64().unwrap_or(0),
        l1_finality_p50_s: f("l1_finality_p50_s"),
        l1_finality_p95_s: f("l1_finality_p95_s"),
        l1_gas_per_user_tx: summary["l1"]["gas_per_l2_user_tx"].as_f64(),
        reproduce: format!("zkcrowd run {} --seed {seed}", point.file.display()),
    })
}

/// Runs (a slice of) a sweep; returns the exit status.
pub fn run(args: &SweepArgs) -> Result<u8> {
    let default_out = PathBuf::from("target/zkcrowd/sweeps").join(args.file.file_stem().unwrap_or_default());
    let out = args.out.clone().unwrap_or(default_out);
    let (sweep, points, seeds) = resolve(&args.file, &out)?;
    let (shard, shards) = shard_from(args.shard.as_deref())?;
    if !args.report_only {
        let exe = std::env::current_exe().context("cannot find this program")?;
        let mut tasks: Vec<(usize, u64, PathBuf)> = Vec::new();
        for (index, point) in points.iter().enumerate() {
            std::fs::create_dir_all(point.file.parent().expect("points have a directory"))?;
            let text = format!(
                "# Generated by `zkcrowd sweep {}` (point `{}`): the base scenario with {}\n{}\n",
                args.file.display(),
                point.name,
                point.overrides,
                serde_json::to_string_pretty(&point.scenario)?
            );
            std::fs::write(&point.file, text)?;
            for &seed in &seeds {
                let k = tasks.len() as u64;
                let dir = point.file.parent().expect("dir").join(format!("seed-{seed}"));
                if k % shards == shard {
                    tasks.push((index, seed, dir));
                } else {
                    tasks.push((usize::MAX, seed, dir));
                }
            }
        }
        let mine: Vec<(usize, u64, PathBuf)> = tasks.into_iter().filter(|(i, _, _)| *i != usize::MAX).collect();
        let bar = indicatif::ProgressBar::new(mine.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {elapsed_precise}  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(format!("{} (shard {shard}/{shards})", sweep.name));
        let mut queue = mine.iter().filter(|(_, _, dir)| {
            let done = dir.join("summary.json").is_file();
            if done {
                bar.inc(1);
            }
            !done
        });
        let mut running: Vec<(usize, u64, PathBuf, std::process::Child)> = Vec::new();
        let mut exits: BTreeMap<(usize, u64), i32> = BTreeMap::new();
        loop {
            while running.len() < args.jobs.max(1) {
                let Some((index, seed, dir)) = queue.next() else { break };
                let child = Command::new(&exe)
                    .arg("run")
                    .arg(&points[*index].file)
                    .args(["--seed", &seed.to_string(), "--quiet", "--no-report", "--out"])
                    .arg(dir)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .context("cannot start a run")?;
                running.push((*index, *seed, dir.clone(), child));
            }
            if running.is_empty() {
                break;
            }
            let (index, seed, _, mut child) = running.remove(0);
            let status = child.wait()?.code().unwrap_or(5);
            exits.insert((index, seed), status);
            bar.inc(1);
        }
        bar.finish();
        let mut rows = Vec::new();
        for (index, seed, dir) in &mine {
            rows.push(summary_row(&points[*index], *index, *seed, dir, exits.get(&(*index, *seed)).copied())?);
        }
        let shard_dir = out.join("shards");
        std::fs::create_dir_all(&shard_dir)?;
        write_shard(&shard_dir.join(format!("results-{shard}-of-{shards}.parquet")), &rows)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if shards > 1 {
            println!(
                "shard {shard}/{shards}: {} runs; merge with `zkcrowd sweep {} --report`",
                rows.len(),
                args.file.display()
            );
            return Ok(0);
        }
    }
    let merged = merge_and_report(&out, &sweep.name).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}: {} runs, {} with violated checks", sweep.name, merged.runs, merged.violated);
    println!("results: {}", out.join("results.parquet").display());
    println!("report: {}", out.join("sweep-report.html").display());
    Ok(if merged.violated > 0 { 3 } else { 0 })
}
