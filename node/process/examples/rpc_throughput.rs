//! JSON-RPC throughput of a validator (a `--release` bench command):
//! `cargo run --release -p zkcrowd-process --example rpc_throughput [CLIENTS] [SECONDS]`.
//!
//! Starts four validators in this process over loopback TCP (the production host), the first with
//! its JSON-RPC server, then measures with CLIENTS concurrent HTTP clients (keep-alive):
//! 1. `eth_getBalance` for SECONDS;
//! 2. `eth_sendRawTransaction` of pre-signed transfers (2,000 accounts, 8 nonces each) until they
//!    run out or SECONDS pass, counting those the validator accepted into its pool;
//! 3. how long the chain takes to commit every accepted transfer.
//!
//! Prints one line per figure.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::consensus::TxEip1559;
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256, hex};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use zkcrowd_chain::{Chain, DevAccounts, Genesis, GenesisValidator, SenderCache};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_node::{Node, NodeParams};
use zkcrowd_primitives::{AccountRef, Zkpow, dev_address, dev_signer, sign_tx};
use zkcrowd_process::{ValidatorOptions, start_validator};

const CHAIN_ID: u64 = 4_242;
const ACCOUNTS: u64 = 2_000;
const NONCES: u64 = 8;
const VALIDATORS: u16 = 4;

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: vec![],
        dev_accounts: Some(DevAccounts { count: ACCOUNTS, balance: Zkpow::from_zkpow(1_000), first: 0 }),
        validators: (0..u64::from(VALIDATORS))
            .map(|i| GenesisValidator { address: AccountRef::Dev(100_000 + i), stake: Zkpow::from_zkpow(1) })
            .collect(),
        market: Default::default(),
    }
}

fn transfer(from: u64, nonce: u64) -> String {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0xbe)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    format!("0x{}", hex::encode(sign_tx(&dev_signer(from), tx).encoded_2718()))
}

async fn call(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    client.post(url).json(&body).send().await.expect("the server answers").json().await.expect("JSON")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(32, |a| a.parse().expect("CLIENTS is a number"));
    let seconds: u64 = args.next().map_or(10, |a| a.parse().expect("SECONDS is a number"));
    let set = ValidatorSet::new((0..u64::from(VALIDATORS)).map(|i| (dev_address(100_000 + i), 1)).collect()).unwrap();
    let mut listeners = Vec::new();
    for _ in 0..VALIDATORS {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut validators = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let chain = Chain::from_genesis(&genesis()).unwrap();
        let params = NodeParams::for_block_time(1_000, 50_000);
        let key = dev_signer(100_000 + i as u64);
        let node = Node::new(i as u16, set.clone(), params, chain, Arc::new(SenderCache::new(100_000)), key);
        let rpc = (i == 0).then(|| "127.0.0.1:0".parse().unwrap());
        let options = ValidatorOptions { rpc, ..Default::default() };
        validators.push(start_validator(Arc::new(Mutex::new(node)), listener, &addrs, options).await.unwrap());
    }
    let url = Arc::new(format!("http://{}", validators[0].rpc.unwrap()));
    let client = reqwest::Client::new();
    println!(
        "machine: {} cores; {clients} clients, {seconds} s per phase",
        std::thread::available_parallelism().unwrap()
    );

    // 1. eth_getBalance.
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url, done) = (client.clone(), url.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = c as u64;
                while Instant::now() < stop {
                    let answer =
                        call(&client, &url, "eth_getBalance", json!([dev_address(i % ACCOUNTS), "latest"])).await;
                    assert!(answer["result"].is_string(), "{answer}");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += clients as u64;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("eth_getBalance: {rate:.0} calls/s");

    // 2. eth_sendRawTransaction (signing happens before the clock starts).
    let raw: Vec<String> = (0..NONCES)
        .flat_map(|nonce| (0..ACCOUNTS).map(move |from| (from, nonce)))
        .map(|(f, n)| transfer(f, n))
        .collect();
    let raw = Arc::new(raw);
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, raw, next) = (client.clone(), url.clone(), raw.clone(), next.clone());
            let (accepted, refused) = (accepted.clone(), refused.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(tx) = raw.get(i) else { return };
                    let answer = call(&client, &url, "eth_sendRawTransaction", json!([tx])).await;
                    let counter = if answer["result"].is_string() { &accepted } else { &refused };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    println!(
        "eth_sendRawTransaction: {:.0} accepted/s ({accepted} accepted, {} refused, {elapsed:.1} s)",
        accepted as f64 / elapsed,
        refused.load(Ordering::Relaxed)
    );

    // 3. How long until every accepted transfer is committed (the pool drains into blocks).
    let head =
        |answer: Value| u64::from_str_radix(answer["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let first_block = head(call(&client, &url, "eth_blockNumber", json!([])).await);
    let drain = Instant::now();
    loop {
        let status = call(&client, &url, "zkcrowd_status", json!([])).await;
        if status["result"]["mempool"].as_u64() == Some(0) {
            break;
        }
        assert!(drain.elapsed() < Duration::from_secs(600), "the pool did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last_block = head(call(&client, &url, "eth_blockNumber", json!([])).await);
    println!(
        "committed: the pool drained in {:.1} s over {} blocks ({:.0} tx/s)",
        drain.elapsed().as_secs_f64(),
        last_block - first_block,
        accepted as f64 / drain.elapsed().as_secs_f64().max(0.001)
    );
    for v in validators {
        v.stop().await;
    }
}
