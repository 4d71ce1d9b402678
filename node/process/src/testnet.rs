//! `zkcrowd node` and `zkcrowd testnet`: validators as separate operating-system processes on
//! loopback, each with its JSON-RPC server, started, inspected and stopped from a directory.
//!
//! `testnet up` writes, in its directory:
//! - `genesis.json`: the chain (its validators' addresses, funded development accounts and
//!   plugin accounts, the market with every proof required real: a testnet refuses modeled
//!   proofs, and its validators verify every real one);
//! - `l1/anvil.log`: anvil, the L1, with the generated `WrapperVerifier` (the on-chain plonky2
//!   verifier of wrapped range proofs) and the `Rollup` over it deployed, then mining a block every
//!   second; each validator has an L1 agent key (funded there) that posts its wrapped ranges;
//! - `validator-I/key` and `validator-I/l1-key` (fresh random keys, mode 0600),
//!   `validator-I/config.json` (index, peer and RPC addresses, genesis, keys, block time, circuit
//!   cache, L1), `validator-I/chain.redb` and `validator-I/node.log`;
//! - `plugin-J/key` (a fresh random key, funded in the genesis) and `plugin-J/plugin.log`;
//! - `testnet.json`: every pid, each validator's HTTP and WebSocket RPC URLs and directory, the
//!   L1's URL, chain id and contract addresses, the chain id, and for development the private key
//!   of a funded account (the public `dev:0` key).
//!
//! Before it starts anything it loads the circuits once (building them into the cache on first
//! use), so the processes only read the cache. It starts every process in its own process group
//! (a Ctrl-C in the terminal that ran `up` does not reach them) and returns once every
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
use zkcrowd_chain::{Chain, DevAccounts, Genesis, GenesisAccount, GenesisValidator, SenderCache};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_l1::{AnvilL1, Deployment, L1Rpc, VerifierKind};
use zkcrowd_market::{MarketParams, RealProofPolicy};
use zkcrowd_node::{Node, NodeParams};
use zkcrowd_primitives::{AccountRef, Zkpow, dev_signer};
use zkcrowd_proofs::ProofSystem;

use crate::index::ChainIndex;
use crate::l1::L1Config;
use crate::store::Store;
use crate::validator::{ValidatorOptions, start_validator};

/// How long `down` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE_MS: u64 = 5_000;
/// How long `up` waits for every validator to report a block (each first loads the circuits and
/// builds the wrapper: tens of seconds when they share two cores).
pub const UP_TIMEOUT_MS: u64 = 300_000;
/// Development accounts funded in a testnet's genesis (`dev:0` …; the load command sends from
/// `dev:1` on).
pub const DEV_ACCOUNTS: u64 = 1_000;
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
    /// The circuit cache (read when the genesis requires real proofs).
    #[serde(default)]
    pub circuit_cache: Option<PathBuf>,
    /// Its L1 submission agent, if it runs one.
    #[serde(default)]
    pub l1: Option<L1Config>,
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
    /// The plugins.
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    /// The L1.
    pub l1: Option<L1Entry>,
    /// A funded account for development (its key is public: `dev:0`).
    pub dev_account: DevAccount,
    /// The browser plugin's page server (`up --web`).
    #[serde(default)]
    pub web: Option<WebEntry>,
}

/// A testnet's page server for browser plugins (`zkcrowd web`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebEntry {
    /// Its process.
    pub pid: u32,
    /// The page's URL.
    pub url: String,
}

/// A testnet's L1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L1Entry {
    /// anvil's process.
    pub pid: u32,
    /// Its JSON-RPC URL.
    pub rpc_http: String,
    /// Its chain id.
    pub chain_id: u64,
    /// The Rollup contract.
    pub rollup: Address,
    /// The verifier it calls.
    pub verifier: Address,
    /// Which verifier that is (`wrapped`: the generated plonky2 verifier).
    pub verifier_kind: VerifierKind,
}

/// One plugin of a testnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginEntry {
    /// Its process.
    pub pid: u32,
    /// Its account.
    pub address: Address,
    /// Its directory (key, log).
    pub dir: PathBuf,
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
    /// Plugin processes.
    pub plugins: u16,
    /// The circuit cache.
    pub circuit_cache: PathBuf,
    /// Start anvil with the contracts, and an L1 agent per validator.
    pub l1: bool,
    /// Blocks per range wrapped for the L1 (the genesis's `wrap_range_blocks`).
    pub wrap_range_blocks: u64,
    /// Serve the browser plugin's page from this built directory (`zkcrowd web`), if given.
    pub web: Option<PathBuf>,
}

/// The L1's chain id (anvil's default).
pub const L1_CHAIN_ID: u64 = 31_337;
/// The Rollup's slot length: each validator's agent owns one slot in turn.
pub const L1_SLOT_SECONDS: u64 = 2;
/// Each plugin account's balance in a testnet's genesis, ZKPOW.
const PLUGIN_BALANCE_ZKPOW: u128 = 10_000;
/// How long `up` waits for anvil to answer.
const ANVIL_UP_MS: u64 = 20_000;

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

/// The default of `UpOptions::wrap_range_blocks`: one wrap (one L1 submission) per 32 blocks.
pub const WRAP_RANGE_BLOCKS_DEFAULT: u64 = 32;

/// The testnet's genesis for validators `addresses`, with `plugins` funded and ranges of
/// `wrap_range_blocks` blocks wrapped for the L1.
pub fn testnet_genesis(chain_id: u64, addresses: &[Address], plugins: &[Address], wrap_range_blocks: u64) -> Genesis {
    Genesis {
        chain_id,
        timestamp: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: plugins
            .iter()
            .map(|a| GenesisAccount {
                address: AccountRef::Address(*a),
                balance: Zkpow::from_zkpow(PLUGIN_BALANCE_ZKPOW),
                nonce: 0,
                code: None,
            })
            .collect(),
        dev_accounts: Some(DevAccounts { count: DEV_ACCOUNTS, balance: Zkpow::from_zkpow(1_000_000), first: 0 }),
        validators: addresses
            .iter()
            .map(|a| GenesisValidator {
                address: AccountRef::Address(*a),
                stake: Zkpow::from_zkpow(VALIDATOR_STAKE_ZKPOW),
            })
            .collect(),
        market: MarketParams {
            real_proofs: RealProofPolicy::All,
            // Real proving takes seconds: a wrap ~13-20 s alone on two cores, but 50-70 s when a
            // few plugin processes, four verifying validators and other work share them (CI), and
            // a plugin proves its held jobs one after another. At 1-second blocks: 180 blocks to
            // prove a job and at most 2 held jobs, so that a wrap queued behind an aggregation
            // still meets its deadline (with 60 blocks and 4 held jobs every attempt of the first
            // wrap missed on a loaded CI machine: a prover-killer of our own making); a heartbeat
            // every two minutes. A range of R blocks costs R - 1 aggregations and one wrap.
            proof_deadline_blocks: 180,
            heartbeat_window_blocks: 360,
            jobs_per_plugin_max: 2,
            wrap_range_blocks,
            ..MarketParams::default()
        },
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
    if let Some(www) = &options.web
        && !www.join("plugin.html").exists()
    {
        bail!("{} holds no built page for --web: run scripts/setup-web and scripts/build-web first", www.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    // Once here, so that no two processes build the circuits at the same time.
    let cache = absolute(&options.circuit_cache)?;
    tracing::info!(cache = %cache.display(), "loading the circuits");
    ProofSystem::load_or_build(&cache).with_context(|| format!("loading the circuits (cache {})", cache.display()))?;
    let keys: Vec<PrivateKeySigner> = (0..options.validators).map(|_| PrivateKeySigner::random()).collect();
    let addresses: Vec<Address> = keys.iter().map(PrivateKeySigner::address).collect();
    let plugin_keys: Vec<PrivateKeySigner> = (0..options.plugins).map(|_| PrivateKeySigner::random()).collect();
    let plugin_addresses: Vec<Address> = plugin_keys.iter().map(PrivateKeySigner::address).collect();
    let genesis = testnet_genesis(options.chain_id, &addresses, &plugin_addresses, options.wrap_range_blocks);
    let genesis_path = dir.join("genesis.json");
    write_json(&genesis_path, &genesis)?;
    let mut started = Started::default();
    let result = start_all(options, &dir, &cache, &genesis, &genesis_path, &keys, &plugin_keys, &mut started);
    match result {
        Ok(file) => Ok(file),
        Err(error) => {
            started.stop();
            let _ = fs::remove_file(dir.join("testnet.json"));
            Err(error)
        }
    }
}

/// The processes `up` started so far (stopped again if it fails).
#[derive(Default)]
struct Started {
    children: Vec<Child>,
}

impl Started {
    fn stop(&mut self) {
        stop_children(&mut self.children);
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) })
}

fn write_key(path: &Path, key: &PrivateKeySigner) -> Result<()> {
    fs::write(path, hex::encode(key.to_bytes())).with_context(|| format!("writing {}", path.display()))?;
    restrict(path)
}

#[allow(clippy::too_many_arguments, reason = "the pieces `up` prepared, named at its one call")]
fn start_all(
    options: &UpOptions,
    dir: &Path,
    cache: &Path,
    genesis: &Genesis,
    genesis_path: &Path,
    keys: &[PrivateKeySigner],
    plugin_keys: &[PrivateKeySigner],
    started: &mut Started,
) -> Result<TestnetFile> {
    let agent_keys: Vec<PrivateKeySigner> = keys.iter().map(|_| PrivateKeySigner::random()).collect();
    let (l1_entry, l1_config) = if options.l1 {
        let agents: Vec<Address> = agent_keys.iter().map(PrivateKeySigner::address).collect();
        let genesis_root = Chain::from_genesis(genesis)?.head().ledger_root;
        let (entry, config) = start_l1(dir, options.chain_id, genesis_root, &agents, started)?;
        (Some(entry), Some(config))
    } else {
        (None, None)
    };
    let peers = (0..options.validators).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
    let rpcs = (0..options.validators).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
    let mut entries = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("validator-{i}"));
        fs::create_dir_all(&node_dir)?;
        let key_file = node_dir.join("key");
        write_key(&key_file, key)?;
        let l1 = match &l1_config {
            Some(config) => {
                let key_file = node_dir.join("l1-key");
                write_key(&key_file, &agent_keys[i])?;
                Some(L1Config { key_file, ..config.clone() })
            }
            None => None,
        };
        let config = NodeConfig {
            index: i as u16,
            listen: peers[i],
            peers: peers.clone(),
            rpc: rpcs[i],
            genesis: genesis_path.to_path_buf(),
            key_file,
            block_time_ms: options.block_time_ms,
            circuit_cache: Some(cache.to_path_buf()),
            l1,
        };
        let config_path = node_dir.join("config.json");
        write_json(&config_path, &config)?;
        let log = fs::File::create(node_dir.join("node.log"))?;
        let child = spawn(&options.program, &["node".as_ref(), "--config".as_ref(), config_path.as_os_str()], log)?;
        entries.push(ValidatorEntry {
            index: i as u16,
            pid: child.id(),
            rpc_http: format!("http://{}", rpcs[i]),
            rpc_ws: format!("ws://{}", rpcs[i]),
            dir: node_dir,
        });
        started.children.push(child);
    }
    let dev = dev_signer(0);
    let mut file = TestnetFile {
        chain_id: options.chain_id,
        genesis: genesis_path.to_path_buf(),
        validators: entries,
        plugins: Vec::new(),
        l1: l1_entry,
        dev_account: DevAccount { address: dev.address(), private_key: format!("0x{}", hex::encode(dev.to_bytes())) },
        web: None,
    };
    write_json(&dir.join("testnet.json"), &file)?;
    wait_for_blocks(&file, &mut started.children)?;
    // Plugins once the chain runs (a plugin waits for its validator anyway; this keeps their
    // circuit loading off the validators' start).
    let entries = &file.validators;
    let mut plugins = Vec::new();
    for (j, key) in plugin_keys.iter().enumerate() {
        let plugin_dir = dir.join(format!("plugin-{j}"));
        fs::create_dir_all(&plugin_dir)?;
        let key_file = plugin_dir.join("key");
        write_key(&key_file, key)?;
        let log = fs::File::create(plugin_dir.join("plugin.log"))?;
        // Home validator j (mod n), the others after it for failover.
        let mut args: Vec<std::ffi::OsString> = vec!["plugin".into(), "--key".into(), key_file.into()];
        for k in 0..entries.len() {
            args.extend(["--rpc".into(), entries[(j + k) % entries.len()].rpc_ws.clone().into()]);
        }
        args.extend(["--circuit-cache".into(), cache.as_os_str().to_owned()]);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let child = spawn(&options.program, &args, log)?;
        plugins.push(PluginEntry { pid: child.id(), address: key.address(), dir: plugin_dir });
        started.children.push(child);
    }
    file.plugins = plugins;
    write_json(&dir.join("testnet.json"), &file)?;
    if let Some(www) = &options.web {
        let address = free_port()?;
        let log = fs::File::create(dir.join("web.log"))?;
        let args: Vec<std::ffi::OsString> = vec![
            "web".into(),
            "--dir".into(),
            dir.as_os_str().to_owned(),
            "--www".into(),
            absolute(www)?.into_os_string(),
            "--listen".into(),
            address.to_string().into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let child = spawn(&options.program, &args, log)?;
        file.web = Some(WebEntry { pid: child.id(), url: format!("http://{address}/plugin.html") });
        started.children.push(child);
        write_json(&dir.join("testnet.json"), &file)?;
    }
    Ok(file)
}

/// Starts anvil (in lockstep), deploys the generated verifier and the Rollup over the L2 genesis
/// root with `agents` in its schedule, then lets anvil mine a block every second.
fn start_l1(
    dir: &Path,
    l2_chain_id: u64,
    genesis_root: B256,
    agents: &[Address],
    started: &mut Started,
) -> Result<(L1Entry, L1Config)> {
    let l1_dir = dir.join("l1");
    fs::create_dir_all(&l1_dir)?;
    let port = free_port()?.port();
    let log = fs::File::create(l1_dir.join("anvil.log"))?;
    let program = zkcrowd_l1::anvil::default_program();
    let args = [
        "--port",
        &port.to_string(),
        "--chain-id",
        &L1_CHAIN_ID.to_string(),
        "--no-mining",
        "--order",
        "fifo",
        "--hardfork",
        "prague",
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let child = spawn(&program, &args, log)?;
    let pid = child.id();
    started.children.push(child);
    let url = format!("http://127.0.0.1:{port}");
    let rpc = L1Rpc::new(&url)?;
    let deadline = Instant::now() + Duration::from_millis(ANVIL_UP_MS);
    while block_on(rpc.latest()).is_err() {
        if Instant::now() > deadline {
            bail!("anvil did not answer at {url} in {ANVIL_UP_MS} ms (see {})", l1_dir.join("anvil.log").display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut l1 = AnvilL1::connect(&url, L1_CHAIN_ID)?;
    let (_, latest) = block_on(rpc.latest())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let kind = VerifierKind::Wrapped;
    let deployment = Deployment::deploy(
        &mut l1,
        PrivateKeySigner::random(),
        kind,
        agents,
        L1_SLOT_SECONDS,
        genesis_root,
        l2_chain_id,
        now.max(latest + 1),
    )
    .context("deploying the verifier and the Rollup")?;
    block_on(rpc.request("evm_setIntervalMining", serde_json::json!([1])))?;
    tracing::info!(rollup = %deployment.rollup, verifier = %deployment.verifier, "L1 deployed ({})", kind.contract());
    let entry = L1Entry {
        pid,
        rpc_http: url.clone(),
        chain_id: L1_CHAIN_ID,
        rollup: deployment.rollup,
        verifier: deployment.verifier,
        verifier_kind: kind,
    };
    let config = L1Config {
        url,
        chain_id: L1_CHAIN_ID,
        rollup: deployment.rollup,
        verifier: deployment.verifier,
        genesis_time: deployment.schedule.genesis_time,
        slot_seconds: L1_SLOT_SECONDS,
        agents: agents.to_vec(),
        key_file: PathBuf::new(),
    };
    Ok((entry, config))
}

fn spawn(program: &Path, args: &[&std::ffi::OsStr], log: fs::File) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} {:?}", program.display(), args.first()))
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

/// Runs `future` on a fresh current-thread tokio runtime (the CLI's commands are synchronous).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(future)
}

/// Waits until every validator's RPC reports a block after the genesis.
fn wait_for_blocks(file: &TestnetFile, children: &mut [Child]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(UP_TIMEOUT_MS);
    let mut pending: Vec<usize> = (0..file.validators.len()).collect();
    while !pending.is_empty() {
        for child in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                let pid = child.id();
                let (what, log) = file
                    .validators
                    .iter()
                    .find(|v| v.pid == pid)
                    .map(|v| (format!("validator {}", v.index), v.dir.join("node.log")))
                    .or_else(|| {
                        file.plugins
                            .iter()
                            .find(|p| p.pid == pid)
                            .map(|p| (format!("plugin {}", p.address), p.dir.join("plugin.log")))
                    })
                    .unwrap_or_else(|| ("anvil".to_owned(), file.genesis.with_file_name("l1").join("anvil.log")));
                let tail = fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("{what} (pid {pid}) exited ({status}); the end of {}:\n{}", log.display(), tail.join("\n"));
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
    for p in &file.plugins {
        let state = if alive(p.pid) { "running" } else { "not running" };
        out.push_str(&format!("plugin {} (pid {}): {state}\n", p.address, p.pid));
    }
    if let Some(l1) = &file.l1 {
        let head = L1Rpc::new(&l1.rpc_http).map(|rpc| {
            let latest = block_on(rpc.latest());
            let call = alloy::sol_types::SolCall::abi_encode(&zkcrowd_l1::contract::IRollup::provenHeadCall {});
            let proven = block_on(rpc.call(l1.rollup, call.into())).ok().and_then(|output| {
                <zkcrowd_l1::contract::IRollup::provenHeadCall as alloy::sol_types::SolCall>::abi_decode_returns(
                    &output,
                )
                .ok()
            });
            (latest, proven.map(|h| h.number))
        });
        let line = match head {
            Ok((Ok((number, _)), proven)) => format!(
                "L1 (pid {}) at {}: block {number}, Rollup {} proven head {}",
                l1.pid,
                l1.rpc_http,
                l1.rollup,
                proven.map_or("unknown".to_owned(), |n| n.to_string())
            ),
            Ok((Err(error), _)) => format!("L1 (pid {}): not answering at {}: {error}", l1.pid, l1.rpc_http),
            Err(error) => format!("L1: {error}"),
        };
        out.push_str(&line);
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
    let pids: Vec<u32> = file
        .plugins
        .iter()
        .map(|p| p.pid)
        .chain(file.validators.iter().map(|v| v.pid))
        .chain(file.l1.iter().map(|l1| l1.pid))
        .chain(file.web.iter().map(|web| web.pid))
        .filter(|&pid| alive(pid))
        .collect();
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
    let key = crate::plugin::read_key(&config.key_file)?;
    let set = validator_set(&genesis)?;
    if set.address(config.index) != key.address() {
        bail!("the key in {} is not validator {}'s", config.key_file.display(), config.index);
    }
    let mut params = NodeParams::for_block_time(config.block_time_ms, 10_000);
    // A chain that requires real proofs verifies them (the circuits), and serves its plugins the
    // witnesses to prove from.
    let chain = if genesis.market.real_proofs == RealProofPolicy::None {
        Chain::from_genesis(&genesis)?
    } else {
        let cache = config.circuit_cache.clone().unwrap_or_else(|| PathBuf::from("target/zkcrowd/circuits"));
        let (system, wrapper) = crate::plugin::load_circuits(&cache)?;
        params.serve_witnesses = true;
        let verifier =
            Arc::new(zkcrowd_proofs::WrappingVerifier { real: zkcrowd_proofs::RealVerifier(system), wrapper });
        Chain::from_genesis_with_verifier(&genesis, verifier)?
    };
    let mut history = ChainIndex::starting_at(chain.head().clone());
    let l1 = match &config.l1 {
        Some(l1) => {
            let secret = crate::plugin::read_secret(&l1.key_file)?;
            let key = PrivateKeySigner::from_bytes(&secret)
                .with_context(|| format!("{} is not a valid secp256k1 secret", l1.key_file.display()))?;
            Some((l1.clone(), key))
        }
        None => None,
    };
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
        let options = ValidatorOptions {
            rpc: Some(config.rpc),
            restarted,
            store: Some(Arc::new(store)),
            history: Some(history),
            l1,
        };
        let handle = start_validator(Arc::new(Mutex::new(node)), listener, &config.peers, options).await?;
        tracing::info!(validator = config.index, p2p = %handle.addr, rpc = ?handle.rpc, "validator running");
        // Runs until the process is stopped (SIGTERM's default action ends it).
        std::future::pending::<()>().await;
        Ok(())
    })
}
