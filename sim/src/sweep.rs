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
//!    scenario, and written to `OUT/points/NAME/scenario.yaml`. An error is located where the
//!    value came from: the override's value in the sweep file, or the base scenario's own line.
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
use zkcrowd_primitives::yaml::{
    FieldPath, Invalid, Source, Validate, YamlError, YamlErrorKind, check_between, check_len,
};
use zkcrowd_reports::sweep::{ResultRow, merge_and_report, write_shard};

use crate::scenario::Scenario;
use crate::scenario::limits::NAME_CHARS_MAX;

/// Most points in a sweep (named points plus grid combinations): each is a scenario file written
/// and validated up front.
pub const POINTS_MAX: u64 = 1_000;

/// Most seeds per point.
pub const SEEDS_MAX: u64 = 1_000;

/// Most runs in a sweep (points × seeds): each run is a process; 10,000 runs of the shortest
/// shipped sweep scenario (30 s of simulated time, ~1 s of wall time each) take hours on 2 cores.
pub const RUNS_MAX: u64 = 10_000;

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

impl SweepFile {
    /// How many points the grid expands to (saturating: a huge grid is refused, not built).
    fn grid_points(&self) -> u64 {
        if self.grid.is_empty() {
            return 0;
        }
        self.grid.values().fold(1u64, |n, values| n.saturating_mul(values.len() as u64))
    }

    fn seed_count(&self) -> u64 {
        match &self.seeds {
            Seeds::Count(n) => *n,
            Seeds::List(list) => list.len() as u64,
        }
    }
}

impl Validate for SweepFile {
    fn validate(&self) -> Result<(), Invalid> {
        let root = FieldPath::root();
        check_between(&root.key("name"), self.name.chars().count(), 1, NAME_CHARS_MAX)?;
        check_between(&root.key("seeds"), self.seed_count(), 1, SEEDS_MAX)?;
        let points = (self.points.len() as u64).saturating_add(self.grid_points());
        if points == 0 {
            return Err(Invalid::rule(root, "no points", "`points` or a `grid`"));
        }
        if points > POINTS_MAX {
            let path = if self.grid.is_empty() { root.key("points") } else { root.key("grid") };
            return Err(Invalid::rule(path, format!("{points} points"), format!("at most {POINTS_MAX}")));
        }
        let runs = points.saturating_mul(self.seed_count());
        if runs > RUNS_MAX {
            return Err(Invalid::rule(
                root.key("seeds"),
                format!("{points} points × {} seeds = {runs} runs", self.seed_count()),
                format!("at most {RUNS_MAX} runs"),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, point) in self.points.iter().enumerate() {
            let path = root.key("points").index(i).key("name");
            check_len(&path, point.name.chars().count(), NAME_CHARS_MAX)?;
            if !names.insert(point.name.as_str()) {
                return Err(Invalid::rule(path, format!("point `{}` appears twice", point.name), "distinct names"));
            }
        }
        Ok(())
    }
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

/// One override of a point: the dotted scenario path, the value, and where the value is written
/// in the sweep file.
#[derive(Debug, Clone)]
struct Override {
    key: String,
    value: Value,
    place: FieldPath,
}

fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let keys: Vec<&str> = path.split('.').collect();
    for (i, key) in keys.iter().enumerate() {
        if !node.is_object() {
            return Err(format!("`{}` is not a section", keys[..i].join(".")));
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

fn point_name(assignment: &[Override]) -> String {
    assignment
        .iter()
        .map(|o| {
            let leaf = o.key.rsplit('.').next().unwrap_or(&o.key);
            let value = match &o.value {
                Value::String(s) => s.replace(' ', ""),
                other => other.to_string(),
            };
            format!("{leaf}={value}")
        })
        .collect::<Vec<_>>()
        .join(",")
        .replace(['/', '{', '}', '"', ':'], "_")
}

/// The base with `overrides` applied, or the failing override's error.
fn apply(base: &Value, overrides: &[Override]) -> Result<Value, (Override, String)> {
    let mut value = base.clone();
    for o in overrides {
        set_path(&mut value, &o.key, o.value.clone()).map_err(|e| (o.clone(), e))?;
    }
    Ok(value)
}

/// A located error in the sweep file, at an override's value, for point `name`.
fn at_override(sweep: &Source, o: &Override, name: &str, wrong: String, expected: &str) -> anyhow::Error {
    let invalid = Invalid::rule(FieldPath::dotted(&o.key), wrong, expected);
    sweep
        .error_at(&o.place, YamlErrorKind::InvalidIn { context: format!("point `{name}`"), invalid: Box::new(invalid) })
        .into()
}

/// Reads a sweep file and resolves its points (each validated as a scenario). Every error is one
/// line with `file:line:column`: of the sweep file where an override is at fault, of the base
/// scenario otherwise.
pub fn resolve(path: &Path, out: &Path) -> Result<(SweepFile, Vec<Resolved>, Vec<u64>)> {
    let sweep_source = Source::read(path)?;
    let sweep: SweepFile = sweep_source.parse()?;
    sweep.validate().map_err(|invalid| sweep_source.invalid(invalid))?;
    let base_path = path.parent().unwrap_or(Path::new(".")).join(&sweep.base);
    let base_source = Source::read(&base_path).map_err(|error| -> anyhow::Error {
        match error.kind {
            YamlErrorKind::Read(read) => {
                let invalid = Invalid::rule(
                    FieldPath::root().key("base"),
                    format!("cannot read {}: {read}", base_path.display()),
                    "a scenario file, relative to the sweep file",
                );
                sweep_source.invalid(invalid).into()
            }
            _ => error.into(),
        }
    })?;
    let base: Value = base_source.parse()?;
    let root = FieldPath::root();
    let common: Vec<Override> = sweep
        .set
        .iter()
        .map(|(key, value)| Override { key: key.clone(), value: value.clone(), place: root.key("set").key(key) })
        .collect();
    let mut points: Vec<(String, Vec<Override>)> = sweep
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let place = root.key("points").index(i).key("set");
            let set = p.set.iter().map(|(k, v)| Override { key: k.clone(), value: v.clone(), place: place.key(k) });
            (p.name.clone(), set.collect())
        })
        .collect();
    if !sweep.grid.is_empty() {
        // At most POINTS_MAX combinations (validated above).
        let mut combos: Vec<Vec<Override>> = vec![Vec::new()];
        for (key, values) in &sweep.grid {
            let place = root.key("grid").key(key);
            combos = combos
                .into_iter()
                .flat_map(|combo| {
                    let place = &place;
                    values.iter().enumerate().map(move |(j, value)| {
                        let mut next = combo.clone();
                        next.push(Override { key: key.clone(), value: value.clone(), place: place.index(j) });
                        next
                    })
                })
                .collect();
        }
        points.extend(combos.into_iter().map(|c| (point_name(&c), c)));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut resolved = Vec::new();
    for (name, assignment) in points {
        if !names.insert(name.clone()) {
            let invalid = Invalid::rule(root.key("grid"), format!("point `{name}` appears twice"), "distinct points");
            return Err(sweep_source.invalid(invalid).into());
        }
        let overrides: Vec<Override> = common.iter().chain(&assignment).cloned().collect();
        let mut value = apply(&base, &overrides)
            .map_err(|(o, e)| at_override(&sweep_source, &o, &name, e, "a path through sections of the scenario"))?;
        set_path(&mut value, "name", Value::String(format!("{}/{name}", sweep.name))).map_err(anyhow::Error::msg)?;
        let scenario = match serde_json::from_value::<Scenario>(value) {
            Ok(scenario) => scenario,
            Err(error) => {
                return Err(shape_error(&sweep_source, &base_source, &base, &overrides, &name, &error.to_string()));
            }
        };
        if let Err(invalid) = scenario.validate() {
            // The latest override that sets the offending value (or a section holding it, or a
            // value inside it) is at fault; otherwise the base's own value is.
            let culprit = overrides.iter().rev().find(|o| {
                let key = FieldPath::dotted(&o.key);
                invalid.path.starts_with(&key) || key.starts_with(&invalid.path)
            });
            let context = format!("point `{name}`");
            let error: YamlError = match culprit {
                Some(o) => {
                    sweep_source.error_at(&o.place, YamlErrorKind::InvalidIn { context, invalid: Box::new(invalid) })
                }
                None => {
                    let location = base_source.locate_invalid(&invalid);
                    let mut error = base_source
                        .error_at(&FieldPath::root(), YamlErrorKind::InvalidIn { context, invalid: Box::new(invalid) });
                    error.location = Some(location);
                    error
                }
            };
            return Err(error.into());
        }
        let overrides_json: BTreeMap<&str, &Value> = assignment.iter().map(|o| (o.key.as_str(), &o.value)).collect();
        let overrides = serde_json::to_string(&overrides_json)?;
        let file = out.join("points").join(&name).join("scenario.yaml");
        resolved.push(Resolved { name, overrides, scenario, file });
    }
    let seeds = match &sweep.seeds {
        Seeds::Count(n) => (1..=*n).collect(),
        Seeds::List(list) => list.clone(),
    };
    Ok((sweep, resolved, seeds))
}

/// A point whose scenario does not deserialize: the first override that breaks the base on its own
/// is located in the sweep file; if none does, the base's own error (located in the base file).
fn shape_error(
    sweep: &Source,
    base_source: &Source,
    base: &Value,
    overrides: &[Override],
    name: &str,
    message: &str,
) -> anyhow::Error {
    for o in overrides {
        let alone = apply(base, std::slice::from_ref(o)).ok().and_then(|v| serde_json::from_value::<Scenario>(v).err());
        if let Some(error) = alone {
            return at_override(
                sweep,
                o,
                name,
                error.to_string(),
                "a value of the scenario's form (docs/scenarios.md)",
            );
        }
    }
    match base_source.parse::<Scenario>() {
        Err(error) => error.into(),
        Ok(_) => match overrides.last() {
            Some(o) => at_override(sweep, o, name, message.to_owned(), "overrides that together form a scenario"),
            None => anyhow::anyhow!("{}: point `{name}`: {message}", sweep.file().display()),
        },
    }
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
