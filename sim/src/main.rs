//! The `zkcrowd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zkcrowd_sim::chain_cmd;

/// zkcrowd: a deterministic simulation and testnet harness for a crowdsourced ZK rollup.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        /// How many transfers.
        #[arg(long, default_value_t = 10)]
        count: u64,
        /// Output file (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chain { genesis, txs, block_txs, block_time_seconds } => {
            let options = chain_cmd::ChainOptions { block_txs_max: block_txs, block_time_seconds };
            chain_cmd::run(&genesis, &txs, &options, &mut std::io::stdout().lock()).map(|summary| {
                println!(
                    "{} blocks, {} txs committed, {} rejected",
                    summary.blocks, summary.txs_committed, summary.rejected
                );
            })
        }
        Command::Txgen { genesis, count, out } => chain_cmd::txgen(&genesis, count).and_then(|text| {
            match out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
