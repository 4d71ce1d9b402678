//! `zkcrowd run`, `zkcrowd seeds` and `zkcrowd check`: the command-line side of a run (outside the simulation, so
//! reading the wall clock and the terminal is fine here).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::output::{self, EXIT_CORRECTNESS, EXIT_CRASH, EXIT_OK, EXIT_USAGE};
use crate::runner::{self, Progress, RunOptions};
use crate::scenario::Scenario;

/// Options of `zkcrowd run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Seed (the scenario's if absent).
    pub seed: Option<u64>,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// Write `events.jsonl`.
    pub events: bool,
    /// Print only the result lines.
    pub quiet: bool,
    /// Also write the tables as CSV.
    pub csv: bool,
    /// Skip charts and `report.html`.
    pub no_report: bool,
}

/// The reproduce line of a run.
pub fn reproduce_line(scenario: &Path, seed: u64) -> String {
    format!("reproduce: zkcrowd run {} --seed {seed}", scenario.display())
}

/// Runs a scenario; returns the process exit status.
pub fn run(args: &RunArgs) -> u8 {
    let scenario = match Scenario::from_file(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    // A missing toolchain is a setup error, not a crash of the simulation.
    if let Err(error) = crate::l1::preflight(&scenario) {
        eprintln!("error: {}: l1: {error}", args.scenario.display());
        return EXIT_USAGE;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/zkcrowd/runs").join(format!("{}-seed{seed}", scenario.name)));
    if !args.quiet {
        println!("zkcrowd run {} --seed {seed}", args.scenario.display());
        println!("seed: {seed}");
        println!("output: {}", out.display());
        println!("resolved parameters:");
        match serde_json::to_string_pretty(&scenario) {
            Ok(text) => println!("{text}"),
            Err(error) => println!("  (cannot print: {error})"),
        }
    }
    let events = if args.events {
        if let Err(error) = std::fs::create_dir_all(&out) {
            eprintln!("error: cannot create {}: {error}", out.display());
            return EXIT_USAGE;
        }
        match std::fs::File::create(out.join("events.jsonl")) {
            Ok(file) => Some(Box::new(std::io::BufWriter::new(file)) as Box<dyn std::io::Write + Send>),
            Err(error) => {
                eprintln!("error: cannot create events.jsonl: {error}");
                return EXIT_USAGE;
            }
        }
    } else {
        None
    };
    let progress = (!args.quiet).then(|| progress_printer(std::io::stderr().is_terminal()));
    let wall = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner::run(&scenario, seed, RunOptions { progress, events })
    }));
    let wall_seconds = wall.elapsed().as_secs_f64();
    let mut output = match result {
        Ok(output) => output,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            eprintln!("crash: the simulation panicked: {message}");
            eprintln!("{}", reproduce_line(&args.scenario, seed));
            return EXIT_CRASH;
        }
    };
    let mut summary = output::summary(&scenario, &args.scenario.display().to_string(), seed, &output, wall_seconds);
    if let Err(error) = output::write(&out, &mut summary, &mut output, args.csv) {
        eprintln!("error: writing outputs: {error:#}");
        return EXIT_USAGE;
    }
    if !args.no_report {
        match zkcrowd_reports::render_report(&out) {
            Ok(()) => {}
            Err(error) => eprintln!("warning: report not written: {error}"),
        }
    }
    let code = output::exit_code(&output.verdicts);
    println!(
        "{}: seed {seed}, {:.0} simulated s in {wall_seconds:.1} s, {} blocks ({} fully proven), {} txs committed, digest {}",
        scenario.name,
        output.sim_ms as f64 / 1_000.0,
        summary["blocks_committed"],
        summary["blocks_fully_proven"],
        summary["txs_committed"],
        summary["digest"].as_str().unwrap_or_default(),
    );
    for (name, verdict) in &output.verdicts {
        match verdict {
            crate::observer::Verdict::Ok => println!("  {name}: ok"),
            crate::observer::Verdict::Violated(reason) => println!("  {name}: VIOLATED: {reason}"),
        }
    }
    println!("summary: {}", out.join("summary.json").display());
    if !args.no_report {
        println!("report: {}", out.join("report.html").display());
    }
    if code != EXIT_OK {
        println!("{}", reproduce_line(&args.scenario, seed));
    }
    code
}

fn progress_printer(terminal: bool) -> Box<dyn Fn(Progress) + Send + Sync> {
    if terminal {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {msg}").expect("valid template").progress_chars("=> "),
        );
        Box::new(move |p: Progress| {
            bar.set_length(p.sim_seconds_max.max(1));
            bar.set_position(p.sim_seconds);
            bar.set_message(format!(
                "sim {}s/{}s  blocks {}  backlog {}  active plugins {}",
                p.sim_seconds, p.sim_seconds_max, p.blocks, p.backlog, p.active_plugins
            ));
        })
    } else {
        Box::new(move |p: Progress| {
            if p.sim_seconds.is_multiple_of(600) {
                eprintln!(
                    "progress: sim {}s  blocks {}  backlog {}  active plugins {}",
                    p.sim_seconds, p.blocks, p.backlog, p.active_plugins
                );
            }
        })
    }
}

/// Options of `zkcrowd seeds`.
#[derive(Debug, Clone)]
pub struct SeedsArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// How many seeds.
    pub count: u64,
    /// First seed.
    pub first: u64,
    /// Parallel processes.
    pub jobs: usize,
    /// Output directory (one subdirectory per seed).
    pub out: Option<PathBuf>,
    /// Run every seed twice, in separate processes, and require the same digest.
    pub twice: bool,
}

/// Runs seeds `first..first+count` in parallel child processes; returns the exit status (0 if all
/// passed, else the most severe child status).
pub fn seeds(args: &SeedsArgs) -> u8 {
    let scenario = match Scenario::from_file(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("target/zkcrowd/seeds").join(&scenario.name));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find this program: {error}");
            return EXIT_USAGE;
        }
    };
    // One task per (seed, pass); the second pass of `--twice` writes beside the first.
    let passes: u8 = if args.twice { 2 } else { 1 };
    let dir_of =
        |seed: u64, pass: u8| out.join(if pass == 0 { format!("seed-{seed}") } else { format!("seed-{seed}-again") });
    let mut queue = (args.first..args.first + args.count).flat_map(|seed| (0..passes).map(move |pass| (seed, pass)));
    let mut finished: std::collections::BTreeMap<u64, Vec<(u8, String)>> = std::collections::BTreeMap::new();
    let mut results: Vec<(u64, u8, String)> = Vec::new();
    let mut running: Vec<(u64, u8, std::process::Child)> = Vec::new();
    let jobs = args.jobs.max(1);
    loop {
        while running.len() < jobs {
            let Some((seed, pass)) = queue.next() else { break };
            let child = Command::new(&exe)
                .arg("run")
                .arg(&args.scenario)
                .args(["--seed", &seed.to_string(), "--quiet", "--no-report", "--out"])
                .arg(dir_of(seed, pass))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            match child {
                Ok(child) => running.push((seed, pass, child)),
                Err(error) => {
                    eprintln!("error: cannot start a run: {error}");
                    return EXIT_USAGE;
                }
            }
        }
        if running.is_empty() {
            break;
        }
        let (seed, pass, mut child) = running.remove(0);
        let status = child.wait().map(|s| s.code().unwrap_or(i32::from(EXIT_CRASH))).unwrap_or(i32::from(EXIT_CRASH));
        let digest = std::fs::read(dir_of(seed, pass).join("summary.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v["digest"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        let runs = finished.entry(seed).or_default();
        runs.push((u8::try_from(status).unwrap_or(EXIT_CRASH), digest));
        if runs.len() < usize::from(passes) {
            continue;
        }
        let runs = finished.remove(&seed).expect("present");
        let (code, digest) = runs[0].clone();
        let same = runs.iter().all(|(c, d)| *c == code && *d == digest);
        let code = if same { code } else { EXIT_CORRECTNESS };
        if !same {
            let seen: Vec<String> = runs.iter().map(|(c, d)| format!("exit {c} digest {d}")).collect();
            println!("seed {seed}: NONDETERMINISTIC: {}", seen.join(" vs "));
        } else if args.twice {
            println!("seed {seed}: {} digest {digest} (twice)", if code == EXIT_OK { "ok" } else { "FAILED" });
        } else {
            println!("seed {seed}: {} digest {digest}", if code == EXIT_OK { "ok" } else { "FAILED" });
        }
        results.push((seed, code, digest));
    }
    results.sort();
    let failed: Vec<&(u64, u8, String)> = results.iter().filter(|(_, code, _)| *code != EXIT_OK).collect();
    println!("{} of {} seeds passed", results.len() - failed.len(), results.len());
    for (seed, code, _) in &failed {
        println!("seed {seed} failed with exit status {code}");
        println!("  {}", reproduce_line(&args.scenario, *seed));
    }
    failed.iter().map(|(_, code, _)| *code).max().unwrap_or(EXIT_OK)
}

/// What kind of file `zkcrowd check` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileKind {
    /// A scenario (`zkcrowd run`).
    Scenario,
    /// A sweep file (`zkcrowd sweep`), with its base scenario and every point.
    Sweep,
    /// A genesis file (`zkcrowd chain --genesis`).
    Genesis,
}

/// Loads and validates each file without running anything; prints `FILE: ok` or the located
/// error. Returns 0 if every file is valid, else 2.
pub fn check(files: &[PathBuf], kind: FileKind) -> u8 {
    let mut code = EXIT_OK;
    for file in files {
        let result: Result<(), String> = match kind {
            FileKind::Scenario => Scenario::from_file(file).map(|_| ()).map_err(|e| e.to_string()),
            FileKind::Genesis => zkcrowd_chain::Genesis::from_file(file).map(|_| ()).map_err(|e| e.to_string()),
            FileKind::Sweep => {
                let out = std::env::temp_dir().join("zkcrowd-check-sweep");
                crate::sweep::resolve(file, &out).map(|_| ()).map_err(|e| format!("{e:#}"))
            }
        };
        match result {
            Ok(()) => println!("{}: ok", file.display()),
            Err(error) => {
                eprintln!("error: {error}");
                code = EXIT_USAGE;
            }
        }
    }
    code
}
