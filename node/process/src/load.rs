//! `zkcrowd testnet load`: transfers from many accounts through a testnet's JSON-RPC at a target
//! rate for a bounded time, then how many were committed, proven and accepted on the L1, and how
//! long each stage took.
//!
//! Senders are the genesis's development accounts `dev:1` … `dev:N` (`dev:0` is left to people
//! and `cast`); each sends to a fixed sink, nonces counted locally from the chain's. Sends go
//! round-robin over every validator's RPC. A transfer counts as *accepted* when
//! `eth_sendRawTransaction` answered its hash; *committed* when a block holding it was seen;
//! *proven* when the validators' fully proven head (`zkcrowd_status`) passed that block; *on L1*
//! when the Rollup's proven head did. Latencies are from the send to the moment the watcher first
//! saw the stage (it polls every [`WATCH_MS`], so each latency is late by up to that). After the
//! sending window, the watcher waits up to `wait` for every accepted transfer to be committed; an
//! accepted transfer never committed is **lost**, and the command fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::consensus::TxEip1559;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::Ethereum;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::sol_types::SolCall;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use zkcrowd_l1::L1Rpc;
use zkcrowd_l1::contract::IRollup;
use zkcrowd_primitives::{dev_signer, sign_tx};

use crate::testnet::{DEV_ACCOUNTS, TestnetFile};

/// How often the watcher polls blocks, the proven head and the L1.
pub const WATCH_MS: u64 = 250;
/// Most transfers one run sends (their hashes and times are kept in memory).
pub const LOAD_TXS_MAX: u64 = 1_000_000;

/// What `testnet load` does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Transfers per second, all senders together.
    pub rate_per_s: f64,
    /// How long to send.
    pub seconds: u64,
    /// Sending accounts (`dev:1` … `dev:N`).
    pub accounts: u64,
    /// How long to keep watching after sending, for commits, proofs and the L1.
    pub wait_seconds: u64,
}

/// Counts and latencies of one stage.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Transfers that reached it.
    pub count: u64,
    /// Median latency from the send, ms.
    pub p50_ms: Option<u64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<u64>,
    /// Largest, ms.
    pub max_ms: Option<u64>,
}

impl Stage {
    fn of(mut latencies: Vec<u64>) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied();
        Self { count: latencies.len() as u64, p50_ms: at(0.5), p95_ms: at(0.95), max_ms: latencies.last().copied() }
    }
}

/// What `testnet load` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Transfers sent.
    pub sent: u64,
    /// Refused by the RPC (with the first refusal's message).
    pub refused: u64,
    /// The first refusal.
    pub first_refusal: Option<String>,
    /// Accepted into a validator's pool.
    pub accepted: u64,
    /// Achieved send rate, per second.
    pub sent_per_s: f64,
    /// Committed in a block.
    pub committed: Stage,
    /// In a fully proven block.
    pub proven: Stage,
    /// In a block the Rollup accepted.
    pub on_l1: Stage,
    /// Accepted and never committed within the wait.
    pub lost: u64,
}

struct Sent {
    at: Instant,
    block: Option<(u64, Instant)>,
}

/// Runs the load against the testnet `file` describes.
pub async fn run(file: &TestnetFile, options: &LoadOptions) -> Result<LoadReport> {
    if options.accounts == 0 || options.accounts >= DEV_ACCOUNTS {
        bail!(
            "--accounts must be between 1 and {} (the genesis funds dev:0 … dev:{})",
            DEV_ACCOUNTS - 1,
            DEV_ACCOUNTS - 1
        );
    }
    if !options.rate_per_s.is_finite() || options.rate_per_s <= 0.0 {
        bail!("--rate must be a positive number of transfers per second");
    }
    let total = (options.rate_per_s * options.seconds as f64).ceil() as u64;
    if total > LOAD_TXS_MAX {
        bail!("{total} transfers is more than {LOAD_TXS_MAX}: lower --rate or --seconds");
    }
    let providers: Vec<RootProvider<Ethereum>> =
        file.validators.iter().map(|v| Ok(RootProvider::new_http(v.rpc_http.parse()?))).collect::<Result<_>>()?;
    let reader = &providers[0];
    let mut nonces = Vec::new();
    for i in 1..=options.accounts {
        nonces.push(reader.get_transaction_count(dev_signer(i).address()).pending().await?);
    }
    let base_fee = reader.get_gas_price().await?;
    let sink = Address::repeat_byte(0x5c);
    let mut sent: BTreeMap<B256, Sent> = BTreeMap::new();
    let (mut refused, mut first_refusal) = (0u64, None);
    let start = Instant::now();
    let first_block = reader.get_block_number().await?;
    let mut watcher = Watcher::new(file, first_block + 1)?;
    let interval = Duration::from_secs_f64(1.0 / options.rate_per_s);
    for k in 0..total {
        let due = start + interval.mul_f64(k as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let account = (k % options.accounts) as usize;
        let signer = dev_signer(account as u64 + 1);
        let tx = TxEip1559 {
            chain_id: file.chain_id,
            nonce: nonces[account],
            gas_limit: 21_000,
            max_fee_per_gas: base_fee * 4,
            max_priority_fee_per_gas: base_fee / 10,
            to: TxKind::Call(sink),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let raw = Bytes::from(sign_tx(&signer, tx).encoded_2718());
        let provider = &providers[k as usize % providers.len()];
        let at = Instant::now();
        match provider.send_raw_transaction(&raw).await {
            Ok(pending) => {
                nonces[account] += 1;
                sent.insert(*pending.tx_hash(), Sent { at, block: None });
            }
            Err(error) => {
                refused += 1;
                first_refusal.get_or_insert_with(|| error.to_string());
            }
        }
        if watcher.due() {
            watcher.poll(reader, &mut sent).await;
        }
    }
    let sending = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(options.wait_seconds);
    while Instant::now() < deadline {
        watcher.poll(reader, &mut sent).await;
        let all_committed = sent.values().all(|s| s.block.is_some());
        let all_on_l1 = sent.values().all(|s| s.block.is_some_and(|(b, _)| watcher.l1_at.contains_key(&b)));
        if all_committed && (watcher.l1.is_none() || all_on_l1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(WATCH_MS)).await;
    }
    let latency = |stage: &BTreeMap<u64, Instant>| {
        Stage::of(
            sent.values()
                .filter_map(|s| {
                    let (block, _) = s.block?;
                    let reached = stage.range(block..).next().map(|(_, at)| *at)?;
                    Some(reached.saturating_duration_since(s.at).as_millis() as u64)
                })
                .collect(),
        )
    };
    let committed = Stage::of(
        sent.values().filter_map(|s| Some(s.block?.1.saturating_duration_since(s.at).as_millis() as u64)).collect(),
    );
    let accepted = sent.len() as u64;
    Ok(LoadReport {
        sent: total,
        refused,
        first_refusal,
        accepted,
        sent_per_s: total as f64 / sending.as_secs_f64().max(1e-9),
        lost: accepted - committed.count,
        committed,
        proven: latency(&watcher.proven_at),
        on_l1: latency(&watcher.l1_at),
    })
}

/// Polls blocks, the proven head and the L1 (see the module documentation).
struct Watcher {
    next_block: u64,
    last_poll: Option<Instant>,
    /// When the fully proven head was first seen at or past each height (the heights seen).
    proven_at: BTreeMap<u64, Instant>,
    l1_at: BTreeMap<u64, Instant>,
    l1: Option<(L1Rpc, Address)>,
}

impl Watcher {
    fn new(file: &TestnetFile, next_block: u64) -> Result<Self> {
        let l1 = match &file.l1 {
            Some(l1) => Some((L1Rpc::new(&l1.rpc_http)?, l1.rollup)),
            None => None,
        };
        Ok(Self { next_block, last_poll: None, proven_at: BTreeMap::new(), l1_at: BTreeMap::new(), l1 })
    }

    fn due(&self) -> bool {
        self.last_poll.is_none_or(|at| at.elapsed() >= Duration::from_millis(WATCH_MS))
    }

    async fn poll(&mut self, reader: &RootProvider<Ethereum>, sent: &mut BTreeMap<B256, Sent>) {
        self.last_poll = Some(Instant::now());
        // New blocks, and the transfers in them.
        while let Ok(Some(block)) = reader.get_block_by_number(self.next_block.into()).await {
            let now = Instant::now();
            for hash in block.transactions.hashes() {
                if let Some(s) = sent.get_mut(&hash) {
                    s.block.get_or_insert((self.next_block, now));
                }
            }
            self.next_block += 1;
        }
        let status: Result<serde_json::Value, _> = reader.raw_request("zkcrowd_status".into(), ()).await;
        if let Some(head) = status.ok().and_then(|s| s["provenHead"].as_u64()) {
            self.proven_at.entry(head).or_insert_with(Instant::now);
        }
        if let Some((rpc, rollup)) = &self.l1
            && let Ok(output) = rpc.call(*rollup, IRollup::provenHeadCall {}.abi_encode().into()).await
            && let Ok(head) = IRollup::provenHeadCall::abi_decode_returns(&output)
        {
            self.l1_at.entry(head.number).or_insert_with(Instant::now);
        }
    }
}

/// Checks what a load run reported: fails if an accepted transfer was lost.
pub fn verdict(report: &LoadReport) -> Result<()> {
    if report.lost > 0 {
        bail!("{} accepted transfers were never committed", report.lost);
    }
    Ok(())
}

/// The report as the command prints it.
pub fn render(report: &LoadReport) -> Result<String> {
    serde_json::to_string_pretty(report).context("rendering the report")
}
