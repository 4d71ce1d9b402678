//! The `zkcrowd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: a simulation allocates and frees millions of small objects (EVM journals, trie
/// nodes, messages); glibc's allocator spent a quarter of a baseline run in `malloc` (perf,
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use zkcrowd_sim::{chain_cmd, cli, scenario};

/// zkcrowd: a deterministic simulation and testnet harness for a crowdsourced ZK rollup.
///
/// Exit statuses of `run` and `seeds`: 0 all checks held, 2 bad scenario or usage (every error on a
/// scenario names `file:line:column`),
/// 3 correctness violation, 4 liveness violation, 5 crash.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario under the deterministic simulator and write summary.json and tables.
    Run {
        /// Scenario file (YAML).
        scenario: PathBuf,
        /// Seed; the same scenario and seed give the same run, bit for bit.
        #[arg(long, env = "ZKCROWD_SEED")]
        seed: Option<u64>,
        /// Output directory [default: target/zkcrowd/runs/NAME-seedN].
        #[arg(long, env = "ZKCROWD_OUT")]
        out: Option<PathBuf>,
        /// Also write the full event log as events.jsonl.
        #[arg(long)]
        events: bool,
        /// Print only the result lines.
        #[arg(long)]
        quiet: bool,
        /// Also write the tables as CSV next to the Parquet files.
        #[arg(long)]
        csv: bool,
        /// Do not draw charts or write report.html (sweeps use this; `zkcrowd report` adds them later).
        #[arg(long)]
        no_report: bool,
    },
    /// Rebuild a run's charts and report.html from its tables and summary.json.
    Report {
        /// The run's output directory.
        dir: PathBuf,
    },
    /// Run a parameter sweep: points × seeds in parallel processes, results in Parquet, a comparison report.
    Sweep {
        /// Sweep file (YAML).
        file: PathBuf,
        /// Output directory [default: target/zkcrowd/sweeps/NAME].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Parallel processes [default: the number of CPUs].
        #[arg(long, env = "ZKCROWD_JOBS")]
        jobs: Option<usize>,
        /// Run one slice I/N of the runs (0 <= I < N); also read from JOB_COMPLETION_INDEX with
        /// ZKCROWD_SHARDS, or SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT.
        #[arg(long)]
        shard: Option<String>,
        /// Only merge the shards' results and write the comparison report.
        #[arg(long)]
        report: bool,
    },
    /// Print the documented schema of the run tables (Markdown).
    TablesDoc,
    /// Run many seeds of a scenario in parallel processes and list the failing ones.
    Seeds {
        /// Scenario file (YAML).
        scenario: PathBuf,
        /// How many seeds (at most 10,000: each is a process).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        count: u64,
        /// First seed (the last one, first + count - 1, must fit 64 bits).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(..=u64::MAX - 10_000))]
        first: u64,
        /// Parallel processes [default: the number of CPUs].
        #[arg(long, env = "ZKCROWD_JOBS")]
        jobs: Option<usize>,
        /// Output directory [default: target/zkcrowd/seeds/NAME].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run every seed twice in separate processes and fail (status 3) unless both runs give
        /// the same digest and exit status: a determinism check.
        #[arg(long)]
        twice: bool,
    },
    /// Print the JSON Schema of scenario files (for editors).
    Schema,
    /// Load and validate files without running them (exit 0 if all are valid, 2 otherwise).
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// What the files are.
        #[arg(long = "as", value_enum, default_value = "scenario")]
        kind: cli::FileKind,
    },
    /// Measure the real circuits (transfer, 16-call span, aggregation) on this machine and write
    /// the `measured` cost profile; with `--browser`, write the browser device class from a
    /// browser's measurement (scripts/web-calibrate) against this machine's, measured now.
    /// Rebuild afterwards: runs use the compiled-in profiles.
    Calibrate {
        /// Profile file to write (default sim/profiles/measured.json, or sim/profiles/browser.json
        /// with `--browser`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Proofs of each kind (the median is kept).
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// The web page's result (target/web/browser-calibration.json).
        #[arg(long, value_name = "FILE")]
        browser: Option<PathBuf>,
    },
    /// Execute a file of raw transactions into blocks and print each block's roots.
    Chain {
        /// Genesis file (YAML).
        #[arg(long, env = "ZKCROWD_GENESIS")]
        genesis: PathBuf,
        /// Transactions: one hex EIP-2718 transaction per line; `#` starts a comment.
        #[arg(long)]
        txs: PathBuf,
        /// Most transactions offered to one block.
        #[arg(long, default_value_t = 100)]
        block_txs: usize,
        /// Seconds between block timestamps.
        #[arg(long, default_value_t = 2)]
        block_time_seconds: u64,
    },
    /// Write signed transfers among a genesis's development accounts, for `zkcrowd chain`.
    Txgen {
        /// Genesis file with `dev_accounts`.
        #[arg(long, env = "ZKCROWD_GENESIS")]
        genesis: PathBuf,
        /// How many transfers (at most 1,000,000: the file is built in memory).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        count: u64,
        /// Output file (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run one validator as a process (its configuration is what `testnet up` writes).
    Node {
        /// The validator's config.json.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run one plugin as a process: it registers, heartbeats and proves its assignments for real
    /// (plonky2), talking to a validator over JSON-RPC (WebSocket).
    Plugin {
        /// A validator's WebSocket JSON-RPC URL (`ws://…`); repeat for failover validators.
        #[arg(long, required = true)]
        rpc: Vec<String>,
        /// File holding the plugin's private key (hex); its account must hold ZKPoW.
        #[arg(long, conflicts_with = "dev", required_unless_present = "dev")]
        key: Option<PathBuf>,
        /// Use the public development key `dev:N` instead of a key file (development only: anyone
        /// can sign with it).
        #[arg(long)]
        dev: Option<u64>,
        /// The circuit cache (built on first use).
        #[arg(long, env = "ZKCROWD_CIRCUIT_CACHE", default_value = "target/zkcrowd/circuits")]
        circuit_cache: PathBuf,
    },
    /// Serve the browser plugin's page (scripts/build-web) for a running testnet: open the printed
    /// URL in a browser to prove with the real circuits in the tab and earn ZKPoW.
    Web {
        /// The testnet's directory (its validators' WebSocket RPC goes into the page's config).
        #[arg(long, default_value = "target/zkcrowd/testnet")]
        dir: PathBuf,
        /// The built page.
        #[arg(long, default_value = "target/web/www")]
        www: PathBuf,
        /// Where to listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8642")]
        listen: std::net::SocketAddr,
    },
    /// Start, inspect and stop a local testnet: validator processes with JSON-RPC, plugin processes
    /// proving for real, and anvil as the L1 with the Rollup and its plonky2 verifier.
    Testnet {
        #[command(subcommand)]
        action: TestnetAction,
    },
}

#[derive(Debug, Subcommand)]
enum TestnetAction {
    /// Start the validators; print their endpoints and write DIR/testnet.json.
    Up {
        /// Validators.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        validators: u16,
        /// The testnet's directory (configs, keys, logs, testnet.json).
        #[arg(long, default_value = "target/zkcrowd/testnet")]
        dir: PathBuf,
        /// Chain id.
        #[arg(long, default_value_t = 424_242)]
        chain_id: u64,
        /// Target block time, milliseconds.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        block_time_ms: u64,
        /// Plugin processes (each proves for real: a few hundred MB and a core while proving).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=64))]
        plugins: u16,
        /// Do not start the L1 (anvil with the Rollup) nor the validators' L1 agents.
        #[arg(long)]
        no_l1: bool,
        /// Blocks per range wrapped for the L1 (one wrap job and one L1 submission each; a range
        /// of R blocks also costs R - 1 aggregations, so shorter ranges reach the L1 sooner).
        #[arg(long, default_value_t = zkcrowd_process::testnet::WRAP_RANGE_BLOCKS_DEFAULT,
              value_parser = clap::value_parser!(u64).range(1..=zkcrowd_market::WRAP_RANGE_BLOCKS_MAX))]
        wrap_range_blocks: u64,
        /// Also serve the browser plugin's page (`zkcrowd web`) from this built directory
        /// (scripts/build-web writes target/web/www); its URL is printed and in testnet.json.
        #[arg(long, num_args = 0..=1, default_missing_value = "target/web/www")]
        web: Option<PathBuf>,
        /// The circuit cache (built on first use).
        #[arg(long, env = "ZKCROWD_CIRCUIT_CACHE", default_value = "target/zkcrowd/circuits")]
        circuit_cache: PathBuf,
    },
    /// Send transfers from many accounts at a target rate for a bounded time; report how many
    /// were committed, proven and accepted on the L1, and their latencies (JSON). Fails if an
    /// accepted transfer is lost.
    Load {
        /// The testnet's directory.
        #[arg(long, default_value = "target/zkcrowd/testnet")]
        dir: PathBuf,
        /// Transfers per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Sending accounts (dev:1 … dev:N).
        #[arg(long, default_value_t = 100)]
        accounts: u64,
        /// Seconds to keep watching for commits, proofs and the L1 after sending.
        #[arg(long, default_value_t = 120)]
        wait_seconds: u64,
    },
    /// Heights, proven heads, active plugins and pools of every validator.
    Status {
        /// The testnet's directory.
        #[arg(long, default_value = "target/zkcrowd/testnet")]
        dir: PathBuf,
    },
    /// Stop every process `up` started.
    Down {
        /// The testnet's directory.
        #[arg(long, default_value = "target/zkcrowd/testnet")]
        dir: PathBuf,
    },
}

fn testnet(action: TestnetAction) -> anyhow::Result<()> {
    use zkcrowd_process::testnet;
    match action {
        TestnetAction::Up {
            validators,
            dir,
            chain_id,
            block_time_ms,
            plugins,
            no_l1,
            wrap_range_blocks,
            web,
            circuit_cache,
        } => {
            let program = std::env::current_exe()?;
            let options = testnet::UpOptions {
                dir: dir.clone(),
                validators,
                chain_id,
                block_time_ms,
                program,
                plugins,
                circuit_cache,
                l1: !no_l1,
                wrap_range_blocks,
                web,
            };
            let file = testnet::up(&options)?;
            println!(
                "testnet up: chain {} with {} validators and {} plugins, making blocks",
                file.chain_id,
                file.validators.len(),
                file.plugins.len()
            );
            for v in &file.validators {
                println!(
                    "validator {}: pid {}, rpc {} {}, log {}",
                    v.index,
                    v.pid,
                    v.rpc_http,
                    v.rpc_ws,
                    v.dir.join("node.log").display()
                );
            }
            for p in &file.plugins {
                println!("plugin {}: pid {}, log {}", p.address, p.pid, p.dir.join("plugin.log").display());
            }
            if let Some(web) = &file.web {
                println!(
                    "browser plugin page: {} (pid {}; fund the address it shows from the dev account)",
                    web.url, web.pid
                );
            }
            match &file.l1 {
                Some(l1) => println!(
                    "L1: anvil pid {}, rpc {} (chain {}), Rollup {}, verifier {} ({})",
                    l1.pid,
                    l1.rpc_http,
                    l1.chain_id,
                    l1.rollup,
                    l1.verifier,
                    l1.verifier_kind.contract()
                ),
                None => println!("L1: none (--no-l1)"),
            }
            println!(
                "funded dev account {} (key {}; public, development only)",
                file.dev_account.address, file.dev_account.private_key
            );
            println!("written: {}", dir.join("testnet.json").display());
        }
        TestnetAction::Status { dir } => print!("{}", testnet::status(&dir)?),
        TestnetAction::Load { dir, rate, seconds, accounts, wait_seconds } => {
            use zkcrowd_process::load;
            let file = testnet::load(&dir)?;
            let options = load::LoadOptions { rate_per_s: rate, seconds, accounts, wait_seconds };
            let report = testnet::block_on(load::run(&file, &options))?;
            println!("{}", load::render(&report)?);
            load::verdict(&report)?;
        }
        TestnetAction::Down { dir } => {
            let pids = testnet::down(&dir)?;
            println!("testnet down: stopped {} processes {pids:?}", pids.len());
        }
    }
    Ok(())
}

/// A long-running process (`node`, `plugin`): logs to standard error (`RUST_LOG`, default
/// `info`), exit status 2 with the error.
fn process_main(run: impl FnOnce() -> anyhow::Result<()>) -> u8 {
    use std::io::IsTerminal;
    // Colours only on a terminal: `testnet up` sends each process's output to its log file.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run() {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error:#}");
            2
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run { scenario, seed, out, events, quiet, csv, no_report } => {
            cli::run(&cli::RunArgs { scenario, seed, out, events, quiet, csv, no_report })
        }
        Command::Calibrate { out, runs, browser: Some(measurement) } => {
            let out = out.unwrap_or_else(|| "sim/profiles/browser.json".into());
            match zkcrowd_sim::calibrate::browser(&measurement, &zkcrowd_sim::real::cache_dir(), &out, runs) {
                Ok(class) => {
                    let (native, browser) = (&class.native, &class.browser);
                    println!(
                        "native / browser: transfer {:.0} / {:.0} ms, span {:.0} / {:.0} ms, aggregation {:.0} / {:.0} ms",
                        native.tx_ms,
                        browser.tx_ms,
                        native.span_ms,
                        browser.span_ms,
                        native.aggregate_ms,
                        browser.aggregate_ms
                    );
                    println!("browser speed {:.3} ({})", class.speed, class.note);
                    println!("profile: {} (rebuild to use it)", out.display());
                    0
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    1
                }
            }
        }
        Command::Calibrate { out, runs, browser: None } => {
            let out = out.unwrap_or_else(|| "sim/profiles/measured.json".into());
            match zkcrowd_sim::calibrate::run(&zkcrowd_sim::real::cache_dir(), &out, runs) {
                Ok(c) => {
                    println!(
                        "transfer {:.0} ms, span {:.0} ms, aggregation {:.0} ms ({})",
                        c.tx_ms, c.span_ms, c.aggregate_ms, c.note
                    );
                    println!("profile: {} (rebuild to use it)", out.display());
                    0
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    1
                }
            }
        }
        Command::Report { dir } => match zkcrowd_reports::render_report(&dir) {
            Ok(()) => {
                println!("report: {}", dir.join("report.html").display());
                0
            }
            Err(error) => {
                eprintln!("error: {error}");
                2
            }
        },
        Command::Sweep { file, out, jobs, shard, report } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            match zkcrowd_sim::sweep::run(&zkcrowd_sim::sweep::SweepArgs {
                file,
                out,
                jobs,
                shard,
                report_only: report,
            }) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("error: {error:#}");
                    2
                }
            }
        }
        Command::TablesDoc => {
            print!("{}", zkcrowd_reports::tables::schema_markdown());
            0
        }
        Command::Seeds { scenario, count, first, jobs, out, twice } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            cli::seeds(&cli::SeedsArgs { scenario, count, first, jobs, out, twice })
        }
        Command::Check { files, kind } => cli::check(&files, kind),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&scenario::json_schema()).expect("schema serializes"));
            0
        }
        Command::Chain { genesis, txs, block_txs, block_time_seconds } => {
            let options = chain_cmd::ChainOptions { block_txs_max: block_txs, block_time_seconds };
            match chain_cmd::run(&genesis, &txs, &options, &mut std::io::stdout().lock()) {
                Ok(summary) => {
                    println!(
                        "{} blocks, {} txs committed, {} rejected",
                        summary.blocks, summary.txs_committed, summary.rejected
                    );
                    0
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    2
                }
            }
        }
        Command::Txgen { genesis, count, out } => match chain_cmd::txgen(&genesis, count) {
            Ok(text) => match out {
                Some(path) => match std::fs::write(&path, text) {
                    Ok(()) => 0,
                    Err(error) => {
                        eprintln!("error: cannot write {}: {error}", path.display());
                        2
                    }
                },
                None => {
                    print!("{text}");
                    0
                }
            },
            Err(error) => {
                eprintln!("error: {error:#}");
                2
            }
        },
        Command::Node { config } => process_main(|| zkcrowd_process::testnet::run_node(&config)),
        Command::Plugin { rpc, key, dev, circuit_cache } => process_main(|| {
            use zkcrowd_process::plugin::{KeySource, PluginOptions, run_plugin};
            let key = match (key, dev) {
                (Some(file), _) => KeySource::File(file),
                (None, Some(index)) => KeySource::Dev(index),
                (None, None) => anyhow::bail!("give --key FILE (or --dev N for a public development key)"),
            };
            run_plugin(&PluginOptions { rpc, key, circuit_cache })
        }),
        Command::Web { dir, www, listen } => process_main(|| {
            let options = zkcrowd_process::web::WebOptions { www, testnet_dir: dir, listen };
            zkcrowd_process::web::serve(&options, |address| {
                println!(
                    "zkcrowd web: open http://{address}/plugin.html (the testnet's validators are in /config.json)"
                );
            })
        }),
        Command::Testnet { action } => match testnet(action) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: {error:#}");
                2
            }
        },
    };
    ExitCode::from(code)
}
