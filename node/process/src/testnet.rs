//! `zkcrowd node` and `zkcrowd testnet`: validators as separate operating-system processes on
//! loopback, each with its JSON-RPC server, started, inspected and stopped from a directory.
//!
//! `testnet up` writes, in its directory:
//! - `genesis.json`: the chain (its validators' addresses, funded development accounts, the
//!   market with every proof required real: a testnet refuses modeled proofs);
//! - `validator-I/key` (a fresh random key, mode 0600), `validator-I/config.json` (index, peer and
//!   RPC addresses, genesis, key, block time) and `validator-I/node.log`;
//! - `testnet.json`: each validator's pid, HTTP and WebSocket RPC URLs and directory, the chain
//!   id, and for development the private key of a funded account (the public `dev:0` key).
//!
//! It starts one `zkcrowd node --config validator-I/config.json` per validator in its own process
//! group (a Ctrl-C in the terminal that ran `up` does not reach them) and returns once every
//! validator's RPC reports a block. `testnet down` stops exactly the pids in `testnet.json`
//! (SIGTERM, then SIGKILL after [`STOP_GRACE_MS`]) and waits until none is left.

use std::fs;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, hex};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use zkcrowd_chain::{Chain, DevAccounts, Genesis, GenesisValidator, SenderCache};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_market::{MarketParams, RealProofPolicy};
use zkcrowd_node::{Node, NodeParams};
use zkcrowd_primitives::{AccountRef, DevSigner, Zkpow, dev_signer};

use crate::index::ChainIndex;
use crate::store::Store;
use crate::validator::{ValidatorOptions, start_validator};

/// How long `down` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE_MS: u64 = 5_000;
/// How long `up` waits for every validator to report a block.
pub const UP_TIMEOUT_MS: u64 = 60_000;
/// Development accounts funded in a testnet's genesis (`dev:0` …).
pub const DEV_ACCOUNTS: u64 = 10;
/// Stake of each validator, ZKPOW.
const VALIDATOR_STAKE_ZKPOW: u128 = 100_000;

/// One validator process's configuration (`validator-I/config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Its index in the genesis's validator list.
    pub index: u16,
    /// Where it listens for peers and clients.
    pub listen: SocketAddr,
    /// Every validator's peer address, by index.
    pub peers: Vec<SocketAddr>,
    /// Where its JSON-RPC server listens (HTTP and WebSocket).
    pub rpc: SocketAddr,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The file holding its private key (hex).
    pub key_file: PathBuf,
    /// Target block time.
    pub block_time_ms: u64,
}

/// What `testnet up` started (`testnet.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetFile {
    /// The L2 chain id.
    pub chain_id: u64,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The validators.
    pub validators: Vec<ValidatorEntry>,
    /// A funded account for development (its key is public: `dev:0`).
    pub dev_account: DevAccount,
}

/// One validator of a testnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// Index.
    pub index: u16,
    /// Its process.
    pub pid: u32,
    /// JSON-RPC over HTTP.
    pub rpc_http: String,
    /// JSON-RPC over WebSocket.
    pub rpc_ws: String,
    /// Its directory (config, key, log).
    pub dir: PathBuf,
}

/// A funded development account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevAccount {
    /// Address.
    pub address: Address,
    /// Private key, hex (public knowledge: never use it for anything of value).
    pub private_key: String,
}

/// Options of `testnet up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The directory.
    pub dir: PathBuf,
    /// Validators.
    pub validators: u16,
    /// Chain id.
    pub chain_id: u64,
    /// Block time.
    pub block_time_ms: u64,
    /// The `zkcrowd` program that runs a node.
    pub program: PathBuf,
}

fn free_port() -> Result<SocketAddr> {
    // The port is free now; the node binds it a moment later (loopback: a race lost only to
    // another program choosing the same ephemeral port in between).
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    fs::write(path, serde_json::to_string_pretty(value)?).with_context(|| format!("writing {}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// The testnet's genesis for validators `addresses`.
pub fn testnet_genesis(chain_id: u64, addresses: &[Address]) -> Genesis {
    Genesis {
        chain_id,
        timestamp: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: Vec::new(),
        dev_accounts: Some(DevAccounts { count: DEV_ACCOUNTS, balance: Zkpow::from_zkpow(1_000_000), first: 0 }),
        validators: addresses
            .iter()
            .map(|a| GenesisValidator {
                address: AccountRef::Address(*a),
                stake: Zkpow::from_zkpow(VALIDATOR_STAKE_ZKPOW),
            })
            .collect(),
        market: MarketParams { real_proofs: RealProofPolicy::All, ..MarketParams::default() },
    }
}

/// The validator set of a genesis (stake in whole ZKPOW).
fn validator_set(genesis: &Genesis) -> Result<ValidatorSet> {
    let validators = genesis
        .validators
        .iter()
        .map(|v| Ok((v.address.address(), u64::try_from(v.stake.wei() / 1_000_000_000_000_000_000)?)))
        .collect::<Result<Vec<_>>>()?;
    ValidatorSet::new(validators).map_err(|e| anyhow::anyhow!("genesis validators: {e}"))
}

/// Starts a testnet (see the module documentation); returns what it wrote to `testnet.json`.
pub fn up(options: &UpOptions) -> Result<TestnetFile> {
    let dir = &options.dir;
    if dir.join("testnet.json").exists() {
        bail!("{} already holds a testnet: run `zkcrowd testnet down --dir {}` first", dir.display(), dir.display());
    }
    if options.validators == 0 {
        bail!("a testnet needs at least one validator");
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let keys: Vec<PrivateKeySigner> = (0..options.validators).map(|_| PrivateKeySigner::random()).collect();
    let addresses: Vec<Address> = keys.iter().map(PrivateKeySigner::address).collect();
    let genesis = testnet_genesis(options.chain_id, &addresses);
    let genesis_path = dir.join("genesis.json");
    write_json(&genesis_path, &genesis)?;
    let peers = (0..options.validators).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
    let rpcs = (0..options.validators).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
    let mut children: Vec<Child> = Vec::new();
    let mut entries = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("validator-{i}"));
        fs::create_dir_all(&node_dir)?;
        let key_file = node_dir.join("key");
        fs::write(&key_file, hex::encode(key.to_bytes()))?;
        restrict(&key_file)?;
        let config = NodeConfig {
            index: i as u16,
            listen: peers[i],
            peers: peers.clone(),
            rpc: rpcs[i],
            genesis: genesis_path.clone(),
            key_file,
            block_time_ms: options.block_time_ms,
        };
        let config_path = node_dir.join("config.json");
        write_json(&config_path, &config)?;
        let log = fs::File::create(node_dir.join("node.log"))?;
        let child = spawn_node(&options.program, &config_path, log);
        let child = match child {
            Ok(child) => child,
            Err(error) => {
                stop_children(&mut children);
                return Err(error);
            }
        };
        entries.push(ValidatorEntry {
            index: i as u16,
            pid: child.id(),
            rpc_http: format!("http://{}", rpcs[i]),
            rpc_ws: format!("ws://{}", rpcs[i]),
            dir: node_dir,
        });
        children.push(child);
    }
    let dev = dev_signer(0);
    let file = TestnetFile {
        chain_id: options.chain_id,
        genesis: genesis_path,
        validators: entries,
        dev_account: DevAccount { address: dev.address(), private_key: format!("0x{}", hex::encode(dev.to_bytes())) },
    };
    write_json(&dir.join("testnet.json"), &file)?;
    if let Err(error) = wait_for_blocks(&file, &mut children) {
        stop_children(&mut children);
        fs::remove_file(dir.join("testnet.json"))?;
        return Err(error);
    }
    Ok(file)
}

fn spawn_node(program: &Path, config: &Path, log: fs::File) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .arg("node")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} node", program.display()))
}

fn restrict(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn stop_children(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(future)
}

/// Waits until every validator's RPC reports a block after the genesis.
fn wait_for_blocks(file: &TestnetFile, children: &mut [Child]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(UP_TIMEOUT_MS);
    let mut pending: Vec<usize> = (0..file.validators.len()).collect();
    while !pending.is_empty() {
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                let log = file.validators[i].dir.join("node.log");
                let tail = fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("validator {i} exited ({status}); the end of {}:\n{}", log.display(), tail.join("\n"));
            }
        }
        pending.retain(|&i| {
            let url = file.validators[i].rpc_http.parse().expect("a URL we wrote");
            let provider = RootProvider::<alloy::network::Ethereum>::new_http(url);
            !matches!(block_on(provider.get_block_number()), Ok(n) if n >= 1)
        });
        if Instant::now() > deadline {
            bail!("validators {pending:?} made no block in {UP_TIMEOUT_MS} ms");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Reads a testnet's `testnet.json`.
pub fn load(dir: &Path) -> Result<TestnetFile> {
    read_json(&dir.join("testnet.json"))
}

/// One line per validator: its head, proven head, active plugins and pool, or why it did not answer.
pub fn status(dir: &Path) -> Result<String> {
    let file = load(dir)?;
    let mut out = format!("chain {}\n", file.chain_id);
    for v in &file.validators {
        let provider = RootProvider::<alloy::network::Ethereum>::new_http(v.rpc_http.parse()?);
        let answer: Result<serde_json::Value, _> = block_on(provider.raw_request("zkcrowd_status".into(), ()));
        let line = match answer {
            Ok(s) => format!(
                "validator {} (pid {}): head {} {}, proven head {}, active plugins {}, open jobs {}, pool {}",
                v.index,
                v.pid,
                s["head"],
                s["headHash"],
                s["provenHead"],
                s["activePlugins"],
                s["openJobs"],
                s["mempool"]
            ),
            Err(error) => format!("validator {} (pid {}): not answering at {}: {error}", v.index, v.pid, v.rpc_http),
        };
        out.push_str(&line.replace('"', ""));
        out.push('\n');
    }
    Ok(out)
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks that the process exists (and is ours to signal).
    // SAFETY: kill(2) with signal 0 sends nothing; any pid value is safe to pass.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on a pid this testnet started; a stale pid fails with ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Stops every process `testnet.json` lists and removes the file; returns the pids stopped.
pub fn down(dir: &Path) -> Result<Vec<u32>> {
    let file = load(dir)?;
    let pids: Vec<u32> = file.validators.iter().map(|v| v.pid).filter(|&pid| alive(pid)).collect();
    for &pid in &pids {
        signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_millis(STOP_GRACE_MS);
    while pids.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in pids.iter().filter(|&&pid| alive(pid)) {
        signal(pid, libc::SIGKILL);
    }
    while pids.iter().any(|&pid| alive(pid)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::remove_file(dir.join("testnet.json"))?;
    Ok(pids)
}

/// Runs one validator from its configuration until the process is stopped.
pub fn run_node(config_path: &Path) -> Result<()> {
    let config: NodeConfig = read_json(config_path)?;
    let genesis =
        Genesis::from_file(&config.genesis).map_err(|e| anyhow::anyhow!("{}: {e}", config.genesis.display()))?;
    let key_hex =
        fs::read_to_string(&config.key_file).with_context(|| format!("reading {}", config.key_file.display()))?;
    let key_bytes: B256 =
        key_hex.trim().parse().with_context(|| format!("{} is not a hex key", config.key_file.display()))?;
    let key = DevSigner::from_bytes(&key_bytes).context("the key is not a valid secp256k1 secret")?;
    let set = validator_set(&genesis)?;
    if set.address(config.index) != key.address() {
        bail!("the key in {} is not validator {}'s", config.key_file.display(), config.index);
    }
    let chain = Chain::from_genesis(&genesis)?;
    let mut history = ChainIndex::starting_at(chain.head().clone());
    let params = NodeParams::for_block_time(config.block_time_ms, 10_000);
    let mut node = Node::new(config.index, set, params, chain, Arc::new(SenderCache::new(100_000)), key);
    // The disk: blocks and the write-ahead log beside the config.
    let db = config_path.parent().unwrap_or(Path::new(".")).join("chain.redb");
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let blocks = store.blocks()?;
    let restarted = !blocks.is_empty();
    if restarted {
        let count = blocks.len();
        for report in node.restore(blocks, store.wal()?).with_context(|| format!("replaying {}", db.display()))? {
            history.push(&report.outcome);
        }
        tracing::info!(validator = config.index, blocks = count, "restored from disk");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let options =
            ValidatorOptions { rpc: Some(config.rpc), restarted, store: Some(Arc::new(store)), history: Some(history) };
        let handle = start_validator(Arc::new(Mutex::new(node)), listener, &config.peers, options).await?;
        tracing::info!(validator = config.index, p2p = %handle.addr, rpc = ?handle.rpc, "validator running");
        // Runs until the process is stopped (SIGTERM's default action ends it).
        std::future::pending::<()>().await;
        Ok(())
    })
}
