//! foundry's anvil as the L1: a real process on `--port 0`, in lockstep (`--no-mining`, each block
//! sealed by `evm_mine` at the caller's timestamp, transactions in arrival order with
//! `--order fifo`).
//!
//! alloy's provider is async (tokio, reqwest); the simulator runs on madsim, whose thread must not
//! host a tokio runtime nor spawn threads. So [`AnvilL1::spawn`] starts a worker thread that owns
//! the anvil process and a current-thread tokio runtime, and every call is a blocking request to
//! it. Call `spawn` before a madsim runtime starts (the simulator does).
//!
//! [`AnvilL1::connect`] drives an anvil some other program started (a testnet's, started with
//! `--no-mining` and given interval mining after its deployment). [`L1Rpc`] is the async client
//! underneath, for callers already on tokio (a validator process's submission agent).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use alloy::consensus::TxEnvelope;
use alloy::eips::Encodable2718;
use alloy::network::Ethereum;
use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, RootProvider};
use serde_json::{Value, json};

use crate::backend::{L1Backend, L1Block, L1Error, L1Receipt};

/// How to start anvil.
#[derive(Debug, Clone)]
pub struct AnvilConfig {
    /// The `anvil` binary: `$ZKCROWD_ANVIL`, else the one scripts/setup installed in
    /// `contracts/node_modules/.bin`, else `anvil` on `PATH`.
    pub program: PathBuf,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Genesis timestamp (block 0).
    pub genesis_timestamp: u64,
}

impl AnvilConfig {
    /// The default program, with `chain_id` and `genesis_timestamp`.
    pub fn new(chain_id: u64, genesis_timestamp: u64) -> Self {
        Self { program: default_program(), chain_id, genesis_timestamp }
    }
}

/// The anvil binary to run (see [`AnvilConfig::program`]).
pub fn default_program() -> PathBuf {
    if let Some(path) = std::env::var_os("ZKCROWD_ANVIL") {
        return PathBuf::from(path);
    }
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
    if local.exists() { local } else { PathBuf::from("anvil") }
}

enum Request {
    SetBalance(Address, U256, Sender<Result<(), L1Error>>),
    Send(Bytes, Sender<Result<B256, L1Error>>),
    Mine(u64, Sender<Result<L1Block, L1Error>>),
    Call(Address, Bytes, Sender<Result<Bytes, L1Error>>),
    /// Kill anvil and end the worker; answers once anvil is gone.
    Stop(Sender<()>),
}

/// Where the worker's anvil comes from.
enum Target {
    /// Start one (and kill it when done).
    Spawn(AnvilConfig),
    /// Talk to one at this URL (left running).
    Connect(String),
}

/// An anvil process driven in lockstep (see the module documentation).
pub struct AnvilL1 {
    requests: Option<Sender<Request>>,
    worker: Option<JoinHandle<()>>,
    chain_id: u64,
    endpoint: String,
}

impl AnvilL1 {
    /// Starts anvil and the worker thread that talks to it.
    pub fn spawn(config: AnvilConfig) -> Result<Self, L1Error> {
        let chain_id = config.chain_id;
        Self::start(Target::Spawn(config), chain_id)
    }

    /// Drives the anvil at `url` (chain `chain_id`), which must run with `--no-mining` for
    /// lockstep [`L1Backend::mine`]. Dropping the value leaves that anvil running.
    pub fn connect(url: &str, chain_id: u64) -> Result<Self, L1Error> {
        Self::start(Target::Connect(url.to_owned()), chain_id)
    }

    fn start(target: Target, chain_id: u64) -> Result<Self, L1Error> {
        let (requests, inbox) = channel::<Request>();
        let (ready, started) = channel::<Result<String, L1Error>>();
        let worker = std::thread::Builder::new()
            .name("zkcrowd-anvil".to_owned())
            .spawn(move || worker(target, inbox, ready))
            .map_err(|e| L1Error::Spawn(format!("worker thread: {e}")))?;
        let endpoint = started.recv().map_err(|_| L1Error::Spawn("the worker thread died".to_owned()))??;
        Ok(Self { requests: Some(requests), worker: Some(worker), chain_id, endpoint })
    }

    /// The JSON-RPC endpoint (for `cast`, or a block explorer).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<Result<T, L1Error>>) -> Request) -> Result<T, L1Error> {
        let (reply, answer) = channel();
        let gone = || L1Error::Unavailable("the anvil worker stopped".to_owned());
        self.requests.as_ref().ok_or_else(gone)?.send(make(reply)).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for AnvilL1 {
    fn drop(&mut self) {
        // The worker kills anvil (AnvilInstance's Drop) and ends; a stop handle may still hold
        // the channel open, so ask explicitly.
        if let Some(requests) = self.requests.take() {
            let (done, gone) = channel();
            if requests.send(Request::Stop(done)).is_ok() {
                let _ = gone.recv();
            }
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl L1Backend for AnvilL1 {
    fn kind(&self) -> &'static str {
        "anvil"
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn set_balance(&mut self, address: Address, wei: U256) -> Result<(), L1Error> {
        self.ask(|reply| Request::SetBalance(address, wei, reply))
    }

    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error> {
        let raw = Bytes::from(tx.encoded_2718());
        self.ask(|reply| Request::Send(raw, reply))
    }

    fn mine(&mut self, timestamp: u64) -> Result<L1Block, L1Error> {
        self.ask(|reply| Request::Mine(timestamp, reply))
    }

    fn call(&mut self, to: Address, input: Bytes) -> Result<Bytes, L1Error> {
        self.ask(|reply| Request::Call(to, input, reply))
    }

    fn stop_handle(&self) -> Option<crate::backend::StopHandle> {
        let requests = self.requests.clone()?;
        Some(crate::backend::StopHandle::new(move || {
            let (done, gone) = channel();
            if requests.send(Request::Stop(done)).is_ok() {
                let _ = gone.recv();
            }
        }))
    }
}

fn worker(target: Target, inbox: Receiver<Request>, ready: Sender<Result<String, L1Error>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(L1Error::Spawn(format!("tokio runtime: {e}"))));
            return;
        }
    };
    let (instance, endpoint) = match target {
        Target::Spawn(config) => {
            let spawned = Anvil::new()
                .path(&config.program)
                .port(0u16)
                .chain_id(config.chain_id)
                .args(["--no-mining", "--order", "fifo", "--hardfork", "prague"])
                .args(["--timestamp", &config.genesis_timestamp.to_string()])
                .try_spawn();
            match spawned {
                Ok(instance) => {
                    let endpoint = instance.endpoint();
                    (Some(instance), endpoint)
                }
                Err(e) => {
                    let _ = ready.send(Err(L1Error::Spawn(format!(
                        "{} ({e}); scripts/setup installs it",
                        config.program.display()
                    ))));
                    return;
                }
            }
        }
        Target::Connect(url) => (None, url),
    };
    let rpc = match L1Rpc::new(&endpoint) {
        Ok(rpc) => rpc,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(endpoint));
    while let Ok(request) = inbox.recv() {
        match request {
            Request::SetBalance(address, wei, reply) => {
                let _ = reply.send(runtime.block_on(rpc.request("anvil_setBalance", json!([address, wei]))).map(drop));
            }
            Request::Send(raw, reply) => {
                let _ = reply.send(runtime.block_on(rpc.send(raw)));
            }
            Request::Mine(timestamp, reply) => {
                let _ = reply.send(runtime.block_on(rpc.mine(timestamp)));
            }
            Request::Call(to, input, reply) => {
                let _ = reply.send(runtime.block_on(rpc.call(to, input)));
            }
            Request::Stop(done) => {
                drop(instance);
                let _ = done.send(());
                return;
            }
        }
    }
    drop(instance);
}

/// An async JSON-RPC client of an Ethereum L1 (anvil's extensions where a method needs them),
/// with failures sorted into [`L1Error`]s: no answer is `Unavailable`, a refusal `Refused`, a
/// reverted call `Reverted`.
#[derive(Debug, Clone)]
pub struct L1Rpc {
    provider: RootProvider<Ethereum>,
}

fn hex_u64(value: &Value, what: &str) -> Result<u64, L1Error> {
    value
        .as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| L1Error::Refused(format!("anvil answered {what} = {value}")))
}

impl L1Rpc {
    /// A client of the L1 at `url` (HTTP).
    pub fn new(url: &str) -> Result<Self, L1Error> {
        let url = url.parse().map_err(|e| L1Error::Spawn(format!("L1 URL {url}: {e}")))?;
        Ok(Self { provider: RootProvider::new_http(url) })
    }

    /// One raw request.
    pub async fn request(&self, method: &'static str, params: Value) -> Result<Value, L1Error> {
        self.provider.raw_request::<_, Value>(method.into(), params).await.map_err(|e| match e {
            alloy::transports::RpcError::ErrorResp(payload) => match payload.data.as_ref() {
                Some(data) if payload.message.contains("revert") => {
                    let bytes: Bytes = serde_json::from_str::<String>(data.get())
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_default();
                    L1Error::Reverted(crate::contract::revert_reason(&bytes))
                }
                _ => L1Error::Refused(format!("{method}: {}", payload.message)),
            },
            other => L1Error::Unavailable(format!("{method}: {other}")),
        })
    }

    /// `eth_sendRawTransaction`.
    pub async fn send(&self, raw: Bytes) -> Result<B256, L1Error> {
        let hash = self.request("eth_sendRawTransaction", json!([raw])).await?;
        serde_json::from_value(hash).map_err(|e| L1Error::Refused(e.to_string()))
    }

    /// `eth_call` on the latest state.
    pub async fn call(&self, to: Address, input: Bytes) -> Result<Bytes, L1Error> {
        let output = self.request("eth_call", json!([{ "to": to, "input": input }, "latest"])).await?;
        serde_json::from_value(output).map_err(|e| L1Error::Refused(e.to_string()))
    }

    /// The latest block's number and timestamp.
    pub async fn latest(&self) -> Result<(u64, u64), L1Error> {
        let block = self.request("eth_getBlockByNumber", json!(["latest", false])).await?;
        Ok((hex_u64(&block["number"], "number")?, hex_u64(&block["timestamp"], "timestamp")?))
    }

    /// The next nonce of `address`, counting its pooled transactions.
    pub async fn pending_nonce(&self, address: Address) -> Result<u64, L1Error> {
        let nonce = self.request("eth_getTransactionCount", json!([address, "pending"])).await?;
        hex_u64(&nonce, "nonce")
    }

    /// `evm_mine` at `timestamp` (anvil), then the block with its receipts.
    pub async fn mine(&self, timestamp: u64) -> Result<L1Block, L1Error> {
        self.request("evm_mine", json!([format!("{timestamp:#x}")])).await?;
        let block = self.request("eth_getBlockByNumber", json!(["latest", false])).await?;
        let number = hex_u64(&block["number"], "number")?;
        let block_timestamp = hex_u64(&block["timestamp"], "timestamp")?;
        if block_timestamp != timestamp {
            return Err(L1Error::Refused(format!("mined at {block_timestamp}, wanted {timestamp}")));
        }
        let hash: B256 = serde_json::from_value(block["hash"].clone()).map_err(|e| L1Error::Refused(e.to_string()))?;
        let gas_used = hex_u64(&block["gasUsed"], "gasUsed")?;
        let hashes: Vec<B256> =
            serde_json::from_value(block["transactions"].clone()).map_err(|e| L1Error::Refused(e.to_string()))?;
        let mut receipts = Vec::with_capacity(hashes.len());
        for tx_hash in hashes {
            let receipt = self
                .receipt(tx_hash)
                .await?
                .ok_or_else(|| L1Error::Refused(format!("no receipt of {tx_hash} in its block")))?;
            receipts.push(receipt);
        }
        Ok(L1Block { number, timestamp, hash: Some(hash), gas_used, receipts })
    }

    /// A mined transaction's receipt (with the revert data of a failed one), `None` while pending.
    pub async fn receipt(&self, tx_hash: B256) -> Result<Option<L1Receipt>, L1Error> {
        let receipt = self.request("eth_getTransactionReceipt", json!([tx_hash])).await?;
        if receipt.is_null() {
            return Ok(None);
        }
        let success = hex_u64(&receipt["status"], "status")? == 1;
        let created = serde_json::from_value::<Option<Address>>(receipt["contractAddress"].clone()).unwrap_or(None);
        // A failed transaction's revert data: anvil's receipts do not carry it; its tracer does.
        let revert_data = if success {
            Bytes::new()
        } else {
            let trace = self
                .request("debug_traceTransaction", json!([tx_hash, { "disableStack": true, "disableStorage": true }]))
                .await?;
            let hex = trace["returnValue"].as_str().unwrap_or_default();
            let hex = if hex.starts_with("0x") { hex.to_owned() } else { format!("0x{hex}") };
            hex.parse().unwrap_or_default()
        };
        Ok(Some(L1Receipt {
            tx_hash,
            success,
            gas_used: hex_u64(&receipt["gasUsed"], "gasUsed")?,
            revert_data,
            created,
        }))
    }
}
