//! `zkcrowd chain`: executes a file of raw transactions into blocks on a fresh chain from a
//! genesis file and prints each block's number, transaction count and roots. A malformed or
//! invalid transaction is reported with its file and line and left out; it never stops the run.
//!
//! Transaction files hold one EIP-2718 transaction per line, hex-encoded (with or without `0x`);
//! blank lines and lines starting with `#` are ignored. `zkcrowd txgen` writes such files.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use alloy::consensus::TxEip1559;
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Bytes, TxKind, U256};
use anyhow::{Context, Result};
use zkcrowd_chain::{Chain, Genesis, SignedTx, tx::sign};
use zkcrowd_primitives::{dev_address, dev_signer};

/// Options of `zkcrowd chain`.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// Most candidate transactions offered to one block.
    pub block_txs_max: usize,
    /// Seconds between blocks (timestamps start at genesis).
    pub block_time_seconds: u64,
}

/// What a run produced, for the caller's exit status and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Blocks built.
    pub blocks: u64,
    /// Transactions committed.
    pub txs_committed: u64,
    /// Lines that did not decode, or txs the chain refused.
    pub rejected: u64,
}

/// Runs `zkcrowd chain`, writing the block lines to `out`.
pub fn run(genesis_path: &Path, txs_path: &Path, options: &ChainOptions, out: &mut dyn Write) -> Result<ChainSummary> {
    let genesis = Genesis::from_file(genesis_path)?;
    let mut chain = Chain::from_genesis(&genesis)?;
    let text = std::fs::read_to_string(txs_path).with_context(|| format!("cannot read {}", txs_path.display()))?;
    let mut summary = ChainSummary::default();
    let head = chain.head().clone();
    writeln!(
        out,
        "block 0: genesis, {} accounts, state_root {}, ledger_root {}",
        chain.state().ledger().len(),
        head.state_root,
        head.ledger_root
    )?;

    // (line number, tx) in file order.
    let mut queue: VecDeque<(usize, SignedTx)> = VecDeque::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let decoded = hex::decode(trimmed.strip_prefix("0x").unwrap_or(trimmed))
            .map_err(|e| zkcrowd_chain::TxRejection::Malformed(format!("not hex: {e}")))
            .and_then(|raw| chain.decode(&raw));
        match decoded {
            Ok(tx) => queue.push_back((line_number, tx)),
            Err(reason) => {
                summary.rejected += 1;
                writeln!(out, "  rejected {}:{line_number}: {reason}", txs_path.display())?;
            }
        }
    }

    let mut timestamp = head.timestamp;
    while !queue.is_empty() {
        let take = queue.len().min(options.block_txs_max.max(1));
        let batch: Vec<(usize, SignedTx)> = queue.drain(..take).collect();
        let candidates: Vec<SignedTx> = batch.iter().map(|(_, tx)| tx.clone()).collect();
        timestamp += options.block_time_seconds.max(1);
        let outcome = chain.build_block(&candidates, timestamp, genesis.validators[0].address.address());
        let header = &outcome.block.header;
        summary.blocks += 1;
        summary.txs_committed += outcome.txs.len() as u64;
        writeln!(
            out,
            "block {}: {} txs, gas {}, state_root {}, ledger_root {}",
            header.number,
            outcome.txs.len(),
            header.gas_used,
            header.state_root,
            header.ledger_root
        )?;
        for rejected in &outcome.rejected {
            summary.rejected += 1;
            let line_number = batch[rejected.position].0;
            writeln!(out, "  rejected {}:{line_number} ({}): {}", txs_path.display(), rejected.hash, rejected.reason)?;
        }
        // Deferred txs (out of gas) go first into the next block, in their original order. An
        // empty block always has room for a valid tx (larger ones are rejected), so this ends.
        assert!(outcome.deferred.is_empty() || !outcome.txs.is_empty(), "no progress");
        for &position in outcome.deferred.iter().rev() {
            queue.push_front(batch[position].clone());
        }
    }
    Ok(summary)
}

/// Writes `count` signed transfers among the genesis's development accounts, with correct nonces,
/// in the format `zkcrowd chain` reads. Deterministic: the same genesis and count give the same file.
pub fn txgen(genesis_path: &Path, count: u64) -> Result<String> {
    let genesis = Genesis::from_file(genesis_path)?;
    let dev = genesis.dev_accounts.context("txgen signs with development keys: the genesis needs `dev_accounts`")?;
    anyhow::ensure!(dev.count >= 2, "txgen needs at least two development accounts");
    let mut nonces = vec![0u64; dev.count as usize];
    let mut text = String::new();
    writeln!(text, "# {count} transfers among dev:{}..dev:{} (zkcrowd txgen)", dev.first, dev.first + dev.count - 1)?;
    for i in 0..count {
        let from = i % dev.count;
        let to = (from + 1 + (i * 7) % (dev.count - 1)) % dev.count;
        let envelope = sign(
            &dev_signer(dev.first + from),
            TxEip1559 {
                chain_id: genesis.chain_id,
                nonce: nonces[from as usize],
                gas_limit: 21_000,
                max_fee_per_gas: 10 * genesis.base_fee_per_gas.wei().max(1),
                max_priority_fee_per_gas: genesis.base_fee_per_gas.wei().max(1) / 10,
                to: TxKind::Call(dev_address(dev.first + to)),
                value: U256::from(1_000_000_000u128 * (i as u128 + 1)),
                access_list: Default::default(),
                input: Bytes::new(),
            },
        );
        nonces[from as usize] += 1;
        writeln!(text, "0x{}", hex::encode(envelope.encoded_2718()))?;
    }
    Ok(text)
}
