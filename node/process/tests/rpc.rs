//! Ethereum JSON-RPC on a validator, checked with alloy's own provider (an independent client:
//! its fillers ask for the chain id, the pending nonce, a gas estimate and fees, as cast and
//! wallets do), and each class of bad request answered with its JSON-RPC error while the node
//! keeps serving.

#[path = "../../validator/tests/support/mod.rs"]
#[allow(dead_code, reason = "the shared support module has more than this test uses")]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use zkcrowd_chain::{Chain, SenderCache};
use zkcrowd_node::{Node, NodeParams};
use zkcrowd_primitives::{dev_address, dev_signer};
use zkcrowd_process::{ValidatorHandle, ValidatorOptions, start_validator};
use zkcrowd_protocol::{ClientMessage, ClientRequest, decode, encode};

use support::{CHAIN_ID, VALIDATORS, genesis, validator_set};

const BLOCK_MS: u64 = 300;

fn node(index: u16) -> Arc<Mutex<Node>> {
    let chain = Chain::from_genesis(&genesis()).unwrap();
    let params = NodeParams::for_block_time(BLOCK_MS, 1_000);
    let senders = Arc::new(SenderCache::new(1_000));
    let key = dev_signer(100 + u64::from(index));
    Arc::new(Mutex::new(Node::new(index, validator_set(), params, chain, senders, key)))
}

async fn cluster() -> Vec<ValidatorHandle> {
    let mut listeners = Vec::new();
    for _ in 0..VALIDATORS {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut validators = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let rpc = (i == 0).then(|| "127.0.0.1:0".parse().unwrap());
        validators.push(
            start_validator(node(i as u16), listener, &addrs, ValidatorOptions { rpc, ..Default::default() })
                .await
                .unwrap(),
        );
    }
    validators
}

/// Posts `body` as is; the status and the JSON answer.
async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    try_post(url, body).await.expect("an answer")
}

/// Posts `body`; `None` if the server closed the connection before answering.
async fn try_post(url: &str, body: impl Into<reqwest::Body>) -> Option<(u16, Value)> {
    let client = reqwest::Client::new();
    let response = client.post(url).header("content-type", "application/json").body(body).send().await.ok()?;
    Some(post_answer(response).await)
}

async fn post_answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap_or_else(|| panic!("an error answer, got {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloy_provider_sends_and_reads_and_bad_requests_get_their_errors() {
    let validators = cluster().await;
    let url = format!("http://{}", validators[0].rpc.unwrap());

    // alloy's provider with a wallet: every filler's question must be answered.
    let key: PrivateKeySigner = dev_signer(0).into();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(key)).connect_http(url.parse().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let receiver = dev_address(3);
    let before = provider.get_balance(receiver).await.unwrap();
    let transfer = TransactionRequest::default().with_to(receiver).with_value(U256::from(1_000));
    assert_eq!(provider.estimate_gas(transfer.clone()).await.unwrap(), 21_000);
    let pending = provider.send_transaction(transfer).await.unwrap();
    let hash = *pending.tx_hash();
    let receipt = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(receipt) = provider.get_transaction_receipt(hash).await.unwrap() {
                break receipt;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("committed in time");
    assert!(receipt.status());
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(receipt.from, dev_address(0));
    assert_eq!(provider.get_balance(receiver).await.unwrap(), before + U256::from(1_000));
    let number = receipt.block_number.unwrap();
    let block = provider.get_block_by_number(number.into()).await.unwrap().expect("the receipt's block");
    assert_eq!(block.header.hash, receipt.block_hash.unwrap());
    assert!(block.transactions.hashes().any(|h| h == hash));
    // The block's hash is the hash of the header the RPC shows (a real Ethereum header).
    assert_eq!(block.header.inner.hash_slow(), block.header.hash);
    let tx = provider.get_transaction_by_hash(hash).await.unwrap().expect("committed tx");
    assert_eq!(tx.block_number, Some(number));
    assert_eq!(provider.get_transaction_count(dev_address(0)).await.unwrap(), 1);
    let history = provider.get_fee_history(4, number.into(), &[50.0]).await.unwrap();
    assert!(!history.base_fee_per_gas.is_empty());
    assert!(provider.get_code_at(receiver).await.unwrap().is_empty());

    // Each class of bad request: its error, and the node serves on.
    let (_, answer) = post(&url, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").await;
    assert_eq!(error_code(&answer), -32700, "malformed JSON");
    let (_, answer) = post(&url, call("eth_noSuchMethod", json!([]))).await;
    assert_eq!(error_code(&answer), -32601, "unknown method");
    let (_, answer) = post(&url, call("eth_getBalance", json!(["not an address", "latest"]))).await;
    assert_eq!(error_code(&answer), -32602, "wrong params");
    let (_, answer) = post(&url, call("eth_getBalance", json!([Address::ZERO, "0x0"]))).await;
    assert_eq!(error_code(&answer), -32000, "state of an old block: {answer}");
    let (_, answer) = post(&url, call("eth_sendRawTransaction", json!(["0x1234"]))).await;
    assert_eq!(error_code(&answer), -32003, "invalid raw transaction: {answer}");
    assert!(answer["error"]["data"].is_object(), "the typed reason: {answer}");
    let big = format!("0x{}", "ab".repeat(200 * 1024));
    let (_, answer) = post(&url, call("eth_sendRawTransaction", json!([big]))).await;
    assert_eq!(error_code(&answer), -32003, "a raw transaction above the chain's size limit: {answer}");
    let huge = format!("0x{}", "ab".repeat(2 << 20));
    // Refused with 413 (or the connection closed while the body was still coming).
    if let Some((status, answer)) = try_post(&url, call("eth_sendRawTransaction", json!([huge]))).await {
        assert!(status == 413 || error_code(&answer) == -32007, "a request above the limit: {status} {answer}");
    }
    let batch: Vec<Value> = (0..101).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"})).collect();
    let (_, answer) = post(&url, serde_json::to_string(&batch).unwrap()).await;
    assert_eq!(error_code(&answer), -32010, "a batch above the limit: {answer}");
    // The plugin protocol: a request without a session, and a frame that is no request.
    let frame =
        format!("0x{}", alloy::primitives::hex::encode(encode(&ClientRequest::GetAccount { address: dev_address(0) })));
    let (_, answer) = post(&url, call("zkcrowd_clientRequest", json!([frame]))).await;
    assert_eq!(error_code(&answer), -32001, "a client request without a session: {answer}");
    // Over HTTP there is never a session, whatever the frame (the WebSocket test below checks a
    // frame that is no request inside a session: -32602 with the codec's reason).
    let (_, answer) = post(&url, call("zkcrowd_clientRequest", json!(["0x00ff"]))).await;
    assert_eq!(error_code(&answer), -32001, "junk without a session: {answer}");
    let again = provider.get_transaction_count(dev_address(0)).await.unwrap();
    assert_eq!(again, 1, "the node still serves");

    for v in validators {
        v.stop().await;
    }
}

/// Over WebSocket: `newHeads` delivers committed headers, and the plugin protocol works end to
/// end: a client session gets the answer to its request as a notification of the encoded frame,
/// and a frame that is no request is refused with the codec's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_new_heads_and_client_session() {
    use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
    use jsonrpsee::rpc_params;

    let validators = cluster().await;
    let url = format!("ws://{}", validators[0].rpc.unwrap());
    let client = zkcrowd_process::plugin::ws_client(&url).await.unwrap();

    let mut heads =
        client.subscribe::<Value, _>("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe").await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(30), heads.next()).await.expect("a head").unwrap().unwrap();
    assert!(head["number"].as_str().is_some_and(|n| n.starts_with("0x")), "{head}");
    assert!(head["hash"].as_str().is_some(), "{head}");

    let mut session = client
        .subscribe::<alloy::primitives::Bytes, _>("zkcrowd_clientSession", rpc_params![], "zkcrowd_closeClientSession")
        .await
        .unwrap();
    let request = alloy::primitives::Bytes::from(encode(&ClientRequest::GetAccount { address: dev_address(0) }));
    client.request::<(), _>("zkcrowd_clientRequest", rpc_params![request]).await.unwrap();
    let frame =
        tokio::time::timeout(Duration::from_secs(10), session.next()).await.expect("an answer").unwrap().unwrap();
    match decode::<ClientMessage>(&frame).expect("a client message") {
        ClientMessage::Account { address, balance, .. } => {
            assert_eq!(address, dev_address(0));
            assert!(balance > U256::ZERO);
        }
        other => panic!("expected the account, got {other:?}"),
    }
    let refused = client.request::<(), _>("zkcrowd_clientRequest", rpc_params!["0x00ff"]).await.unwrap_err();
    assert!(refused.to_string().contains("not a client request"), "{refused}");
    // A second session on one connection is refused.
    assert!(
        client
            .subscribe::<alloy::primitives::Bytes, _>(
                "zkcrowd_clientSession",
                rpc_params![],
                "zkcrowd_closeClientSession"
            )
            .await
            .is_err()
    );
    let params: Value = client.request("zkcrowd_chainParams", rpc_params![]).await.unwrap();
    assert_eq!(params["chainId"], CHAIN_ID, "{params}");
    let market: Value = client.request("zkcrowd_market", rpc_params![]).await.unwrap();
    assert!(market["jobs"].is_array(), "{market}");
    assert!(market["pluginList"].is_array(), "{market}");

    for v in validators {
        v.stop().await;
    }
}
