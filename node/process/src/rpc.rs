//! Ethereum JSON-RPC on a validator, over HTTP and WebSocket on one port (jsonrpsee), with alloy's
//! RPC types, so `cast`, wallets and alloy or ethers clients work against the chain unchanged.
//!
//! What the methods read: the live head state (balances, nonces, code, calls), the validator's
//! mempool (`pending` nonces), and the [`ChainIndex`] of recently committed blocks (blocks,
//! transactions, receipts, logs, fee history). State is kept at the head only: a state query at an
//! older block is refused with [`STATE_NOT_KEPT`]; a committed block is final (BFT), so `latest`,
//! `safe`, `finalized` and `pending` all name the head.
//!
//! Errors follow EIP-1474 and the usual clients: invalid parameters -32602 (the server's own
//! parsing also answers -32700 and -32601 for malformed JSON and unknown methods), a refused
//! transaction -32003 with the typed refusal as `data`, a reverted call 3 with the revert data,
//! state not kept -32000, a call that cannot execute -32000, a busy validator or a log query over
//! too many blocks -32005. Limits: [`RPC_REQUEST_BYTES_MAX`],
//! [`RPC_RESPONSE_BYTES_MAX`], [`RPC_BATCH_MAX`], [`RPC_CONNECTIONS_MAX`],
//! [`RPC_SUBSCRIPTIONS_MAX`] per connection, [`FEE_HISTORY_BLOCKS_MAX`], [`LOGS_BLOCKS_MAX`].
//!
//! `eth_sendRawTransaction` goes through the validator's host like any client's request, so the
//! transaction is checked, pooled and gossiped exactly as a plugin's would be.
//!
//! The `zkcrowd_` namespace: `zkcrowd_status` (heights, proven head, L1 head), `zkcrowd_chainParams`
//! (what a plugin's cadence follows), `zkcrowd_market` (plugins with their balances, open and
//! assigned jobs with their bounties, bounded by [`MARKET_PLUGINS_MAX`] and [`MARKET_JOBS_MAX`]),
//! `zkcrowd_plugin` (one plugin's record: balance, proofs accepted, jobs missed) and the plugin
//! protocol itself over a WebSocket
//! connection: `zkcrowd_clientSession` subscribes the connection as one client of the validator
//! (every [`ClientMessage`] for it arrives as a `zkcrowd_clientMessage` notification of its encoded
//! frame), and `zkcrowd_clientRequest` sends one encoded [`ClientRequest`] as that client. The frames
//! are the wire codec's (`zkcrowd_protocol::codec`, versioned and size-limited per kind), the same a
//! TCP client sends; register and heartbeat are ordinary signed transactions inside them, and a
//! proof travels as its transaction's sidecar. A request that does not decode is refused with
//! -32602 and the codec's typed reason; a request on a connection with no session with
//! [`NO_SESSION`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U64, U128, U256};
use alloy::rpc::types::{
    Block, BlockId, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Header, Log, Transaction,
    TransactionReceipt, TransactionRequest,
};
use jsonrpsee::core::{RpcResult, SubscriptionResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{
    BatchRequestConfig, PendingSubscriptionSink, Server, ServerConfig, ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{ConnectionId, Extensions};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use zkcrowd_chain::{CallError, CallRequest, TxPacket};
use zkcrowd_node::{Event, Node};
use zkcrowd_protocol::{ClientId, ClientMessage, ClientRequest, decode, encode};

use crate::index::{ChainIndex, IndexedBlock};
use crate::transport::{CLIENT_QUEUE_FRAMES_MAX, ClientHub};

/// Largest request body (a raw transaction of the chain's largest size, hex-encoded, fits).
pub const RPC_REQUEST_BYTES_MAX: u32 = 2 << 20;
/// Largest response body.
pub const RPC_RESPONSE_BYTES_MAX: u32 = 16 << 20;
/// Most calls in one batch.
pub const RPC_BATCH_MAX: u32 = 100;
/// Most open connections.
pub const RPC_CONNECTIONS_MAX: u32 = 256;
/// Most subscriptions per connection.
pub const RPC_SUBSCRIPTIONS_MAX: u32 = 16;
/// Most blocks one `eth_feeHistory` covers.
pub const FEE_HISTORY_BLOCKS_MAX: u64 = 1_024;
/// Most blocks one `eth_getLogs` scans.
pub const LOGS_BLOCKS_MAX: u64 = 1_024;
/// Heads waiting for a slow `newHeads` subscriber before it misses some.
pub const HEADS_QUEUE_MAX: usize = 64;
/// How long `eth_sendRawTransaction` waits for the validator's verdict.
const SUBMIT_REPLY_MS: u64 = 10_000;

/// State is kept at the head only (see the module documentation).
pub const STATE_NOT_KEPT: i32 = -32000;
/// EIP-1474: transaction rejected.
pub const TX_REJECTED: i32 = -32003;
/// A call or estimate that reverted (geth's code), with the revert data.
pub const EXECUTION_REVERTED: i32 = 3;
/// EIP-1474: limit exceeded (a busy validator, a query over too many blocks).
pub const LIMIT_EXCEEDED: i32 = -32005;
/// `zkcrowd_clientRequest` on a connection that opened no `zkcrowd_clientSession`.
pub const NO_SESSION: i32 = -32001;
/// Most jobs one `zkcrowd_market` answer lists (the oldest open ones first).
pub const MARKET_JOBS_MAX: usize = 256;
/// Most plugins one `zkcrowd_market` answer lists (in registration order).
pub const MARKET_PLUGINS_MAX: usize = 1_024;

/// What the methods share.
pub struct RpcContext {
    /// The validator's node.
    pub node: Arc<Mutex<Node>>,
    /// Recently committed blocks.
    pub index: Arc<RwLock<ChainIndex>>,
    /// The host's inbox (for transactions).
    pub inbox: mpsc::Sender<Event>,
    /// The host's clients (for the verdict on a transaction).
    pub clients: Arc<ClientHub>,
    /// New heads, for `newHeads` subscribers.
    pub heads: broadcast::Sender<IndexedBlock>,
    /// Client sessions by WebSocket connection (`zkcrowd_clientSession`).
    pub sessions: Mutex<BTreeMap<usize, ClientId>>,
    /// What this validator's L1 agent last saw, if it runs one.
    pub l1: Arc<RwLock<Option<L1View>>>,
}

/// The L1 as a validator's submission agent last saw it.
#[derive(Debug, Clone, Copy, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct L1View {
    /// The L1's latest block.
    pub block: u64,
    /// The Rollup's proven head: the last L2 block it accepted.
    pub proven_head: u64,
    /// Ranges this validator's agent got accepted.
    pub accepted: u64,
    /// Its submissions the Rollup reverted.
    pub reverted: u64,
}

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn error_with<T: Serialize>(code: i32, message: impl Into<String>, data: T) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), Some(data))
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(jsonrpsee::types::error::INVALID_PARAMS_CODE, message)
}

/// The Ethereum namespace.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// The chain id.
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// The head's number.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    /// Balance at the head.
    #[method(name = "getBalance")]
    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// Nonce at the head (`pending`: past this validator's pooled transactions).
    #[method(name = "getTransactionCount")]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64>;
    /// Code at the head.
    #[method(name = "getCode")]
    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// A gas price that gets a transaction into the next block: its base fee and the suggested tip.
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U128>;
    /// The suggested tip.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U128>;
    /// Base fees, gas used ratios and tip percentiles of recent blocks.
    #[method(name = "feeHistory")]
    fn fee_history(&self, count: U64, newest: BlockNumberOrTag, percentiles: Option<Vec<f64>>)
    -> RpcResult<FeeHistory>;
    /// A block by number or tag.
    #[method(name = "getBlockByNumber")]
    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>>;
    /// A block by hash.
    #[method(name = "getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;
    /// Submits a signed transaction; its hash once the validator pooled it.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// A committed transaction.
    #[method(name = "getTransactionByHash")]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// A committed transaction's receipt.
    #[method(name = "getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    /// Executes a call on the head state.
    #[method(name = "call")]
    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// The least gas limit with which a transaction succeeds on the head state.
    #[method(name = "estimateGas")]
    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64>;
    /// Logs of kept blocks that match a filter.
    #[method(name = "getLogs")]
    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
    /// `newHeads`: every committed header.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = Header)]
    async fn subscribe(&self, kind: String) -> SubscriptionResult;
}

/// The `net` namespace.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// The chain id, in decimal.
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
}

/// What `zkcrowd_status` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// This validator's index.
    pub validator: u16,
    /// Committed head.
    pub head: u64,
    /// Its hash.
    pub head_hash: B256,
    /// Last block of the contiguous run of fully proven blocks.
    pub proven_head: u64,
    /// Plugins active in the market.
    pub active_plugins: u64,
    /// Open proving jobs.
    pub open_jobs: u64,
    /// Pending transactions in this validator's pool.
    pub mempool: usize,
    /// The L1, as this validator's submission agent last saw it (`null` without one).
    pub l1: Option<L1View>,
}

pub use zkcrowd_protocol::ChainParams;

/// One job in `zkcrowd_market`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketJob {
    /// Its id.
    pub id: u64,
    /// What it proves.
    pub kind: zkcrowd_market::JobKind,
    /// `open` or `assigned`.
    pub status: &'static str,
    /// The assignee's address, when assigned.
    pub assignee: Option<Address>,
    /// Last block whose proof counts, when assigned.
    pub deadline_block: Option<u64>,
    /// Its bounty at the head, wei.
    pub bounty_wei: U256,
    /// It needs a real proof.
    pub real_required: bool,
}

/// One plugin in `zkcrowd_market`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketPlugin {
    /// Its account.
    pub address: Address,
    /// Its market balance, wei (negative: penalties beyond its deposit).
    pub balance_wei: i128,
    /// Active at the head (heartbeat within the window).
    pub active: bool,
    /// Jobs it holds.
    pub held_jobs: u32,
    /// Its last heartbeat's block.
    pub last_heartbeat_block: u64,
    /// Its registration's block.
    pub registered_block: u64,
    /// Proofs of its that the market accepted (each paid its bounty).
    pub proofs_accepted: u64,
    /// Jobs it missed (deadline passed or abandoned; each charged a penalty).
    pub jobs_missed: u64,
}

impl MarketPlugin {
    fn of(market: &zkcrowd_market::Market, plugin: &zkcrowd_market::Plugin) -> Self {
        Self {
            address: plugin.address,
            balance_wei: plugin.balance.wei(),
            active: market.is_active(plugin, market.block()),
            held_jobs: plugin.held,
            last_heartbeat_block: plugin.last_heartbeat_block,
            registered_block: plugin.registered_block,
            proofs_accepted: plugin.proofs_accepted,
            jobs_missed: plugin.jobs_missed,
        }
    }
}

/// What `zkcrowd_market` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketState {
    /// The block it describes (the head).
    pub block: u64,
    /// Registered plugins.
    pub plugins: u64,
    /// Plugins active now.
    pub active_plugins: u64,
    /// Open jobs.
    pub open_jobs: u64,
    /// Assigned jobs.
    pub assigned_jobs: u64,
    /// Jobs created since genesis.
    pub jobs_created: u64,
    /// Open and assigned jobs, oldest first, at most [`MARKET_JOBS_MAX`].
    pub jobs: Vec<MarketJob>,
    /// Registered plugins with their balances, at most [`MARKET_PLUGINS_MAX`].
    pub plugin_list: Vec<MarketPlugin>,
}

/// The `zkcrowd` namespace.
#[rpc(server, namespace = "zkcrowd")]
pub trait ZkcrowdApi {
    /// Heights, proving progress and the market at a glance.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<Status>;
    /// What a plugin's cadence follows.
    #[method(name = "chainParams")]
    fn chain_params(&self) -> RpcResult<ChainParams>;
    /// The market at the head: plugins, open and assigned jobs with their bounties.
    #[method(name = "market")]
    fn market(&self) -> RpcResult<MarketState>;
    /// One plugin's record at the head (`null`: not registered): what a volunteer's page shows.
    #[method(name = "plugin")]
    fn plugin(&self, address: Address) -> RpcResult<Option<MarketPlugin>>;
    /// Opens this connection's client session: the validator's messages for it arrive as
    /// notifications of their encoded frames (see the module documentation).
    #[subscription(name = "clientSession" => "clientMessage", unsubscribe = "closeClientSession", item = Bytes, with_extensions)]
    async fn client_session(&self) -> SubscriptionResult;
    /// Sends one encoded client request as this connection's session.
    #[method(name = "clientRequest", with_extensions)]
    async fn client_request(&self, frame: Bytes) -> RpcResult<()>;
}

impl RpcContext {
    /// Refuses a state query at anything but the head.
    fn at_head(&self, block: Option<BlockId>) -> RpcResult<()> {
        let head = self.node.lock().expect("node lock").chain().head().number;
        let ok = match block {
            None => true,
            Some(BlockId::Number(tag)) => match tag {
                BlockNumberOrTag::Number(n) => n == head,
                BlockNumberOrTag::Earliest => head == 0,
                _ => true,
            },
            Some(BlockId::Hash(hash)) => {
                self.index.read().expect("index lock").head().is_some_and(|b| b.hash == hash.block_hash)
            }
        };
        if ok { Ok(()) } else { Err(error(STATE_NOT_KEPT, format!("state is kept at the head ({head}) only"))) }
    }

    fn number_of(&self, tag: BlockNumberOrTag) -> u64 {
        match tag {
            BlockNumberOrTag::Number(n) => n,
            BlockNumberOrTag::Earliest => 0,
            _ => self.node.lock().expect("node lock").chain().head().number,
        }
    }

    /// The suggested tip: a tenth of the next base fee, at least 1 wei (any tip is taken; the
    /// chain burns fees).
    fn tip(&self) -> u128 {
        (u128::from(self.node.lock().expect("node lock").chain().next_base_fee()) / 10).max(1)
    }

    fn simulate(&self, request: &TransactionRequest) -> RpcResult<zkcrowd_chain::CallOutcome> {
        let input = request.input.input().cloned().unwrap_or_default();
        let call = CallRequest {
            from: request.from.unwrap_or_default(),
            to: request.to.and_then(|kind| kind.to().copied()),
            gas_limit: request.gas,
            gas_price: request.gas_price.or(request.max_fee_per_gas),
            value: request.value.unwrap_or_default(),
            input,
        };
        let node = self.node.lock().expect("node lock");
        node.chain().simulate(&call).map_err(|e| match e {
            CallError::GasAboveBlockLimit { .. } => invalid_params(e.to_string()),
            CallError::Invalid(reason) => error(jsonrpsee::types::error::CALL_EXECUTION_FAILED_CODE, reason),
        })
    }
}

fn reverted(output: Bytes) -> ErrorObjectOwned {
    error_with(EXECUTION_REVERTED, "execution reverted", output)
}

fn rpc_header(block: &IndexedBlock) -> Header {
    Header { hash: block.hash, inner: block.header.to_ethereum(), total_difficulty: Some(U256::ZERO), size: None }
}

fn rpc_tx(block: &IndexedBlock, position: usize) -> Transaction {
    let tx = &block.txs[position];
    Transaction {
        inner: alloy::consensus::transaction::Recovered::new_unchecked(tx.envelope.clone(), tx.record.sender),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(position as u64),
        effective_gas_price: Some(tx.envelope.effective_gas_price(Some(block.header.base_fee_per_gas))),
        block_timestamp: Some(block.header.timestamp),
    }
}

fn rpc_block(block: &IndexedBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.txs.len()).map(|i| rpc_tx(block, i)).collect())
    } else {
        BlockTransactions::Hashes(block.txs.iter().map(|tx| *tx.envelope.tx_hash()).collect())
    };
    Block { header: rpc_header(block), uncles: Vec::new(), transactions, withdrawals: Some(Default::default()) }
}

/// The logs of a block's transaction `position`, with their positions in the block (`first`:
/// the block's log index of its first log).
fn rpc_logs(block: &IndexedBlock, position: usize, first: u64) -> Vec<Log> {
    let tx = &block.txs[position];
    tx.receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| Log {
            inner: log.clone(),
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            block_timestamp: Some(block.header.timestamp),
            transaction_hash: Some(*tx.envelope.tx_hash()),
            transaction_index: Some(position as u64),
            log_index: Some(first + i as u64),
            removed: false,
        })
        .collect()
}

fn first_log_index(block: &IndexedBlock, position: usize) -> u64 {
    block.txs[..position].iter().map(|tx| tx.receipt.logs().len() as u64).sum()
}

fn rpc_receipt(block: &IndexedBlock, position: usize) -> TransactionReceipt {
    let tx = &block.txs[position];
    let logs = rpc_logs(block, position, first_log_index(block, position));
    let mut logs = logs.into_iter();
    let inner = tx.receipt.clone().map_logs(|_| logs.next().expect("one rpc log per log"));
    let contract_address = tx.envelope.to().is_none().then(|| tx.record.sender.create(tx.record.nonce));
    TransactionReceipt {
        inner,
        transaction_hash: *tx.envelope.tx_hash(),
        transaction_index: Some(position as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: tx.record.gas_used,
        effective_gas_price: tx.envelope.effective_gas_price(Some(block.header.base_fee_per_gas)),
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.record.sender,
        to: tx.envelope.to(),
        contract_address,
    }
}

#[async_trait]
impl EthApiServer for Arc<RpcContext> {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.lock().expect("node lock").chain().spec().chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.lock().expect("node lock").chain().head().number))
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        self.at_head(block)?;
        Ok(self.node.lock().expect("node lock").chain().state().balance(&address))
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64> {
        let pending = matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending)));
        self.at_head(block)?;
        let node = self.node.lock().expect("node lock");
        let nonce = if pending { node.pending_nonce(&address) } else { node.chain().state().nonce(&address) };
        Ok(U64::from(nonce))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        self.at_head(block)?;
        let node = self.node.lock().expect("node lock");
        Ok(node.chain().state().code(&address))
    }

    fn gas_price(&self) -> RpcResult<U128> {
        let base = u128::from(self.node.lock().expect("node lock").chain().next_base_fee());
        Ok(U128::from(base + self.tip()))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U128> {
        Ok(U128::from(self.tip()))
    }

    fn fee_history(
        &self,
        count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let count = count.to::<u64>().min(FEE_HISTORY_BLOCKS_MAX);
        let percentiles = percentiles.unwrap_or_default();
        if percentiles.iter().any(|p| !(0.0..=100.0).contains(p)) || !percentiles.is_sorted() {
            return Err(invalid_params("reward percentiles must be ascending, within [0, 100]"));
        }
        let newest = self.number_of(newest);
        let next_base_fee = self.node.lock().expect("node lock").chain().next_base_fee();
        let index = self.index.read().expect("index lock");
        let oldest_kept = index.oldest().unwrap_or(newest);
        let newest = newest.min(index.head().map_or(0, |b| b.header.number));
        let oldest = newest.saturating_add(1).saturating_sub(count).max(oldest_kept);
        let mut history = FeeHistory { oldest_block: oldest, ..FeeHistory::default() };
        let mut rewards = Vec::new();
        for number in oldest..=newest {
            if count == 0 {
                break;
            }
            let Some(block) = index.block(number) else { break };
            let header = &block.header;
            history.base_fee_per_gas.push(u128::from(header.base_fee_per_gas));
            history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit.max(1) as f64);
            let mut tips: Vec<(u128, u64)> = block
                .txs
                .iter()
                .map(|tx| {
                    let tip = tx.envelope.effective_tip_per_gas(header.base_fee_per_gas).unwrap_or_default();
                    (tip, tx.record.gas_used)
                })
                .collect();
            tips.sort_unstable();
            let total: u64 = tips.iter().map(|t| t.1).sum();
            rewards.push(
                percentiles
                    .iter()
                    .map(|p| {
                        let threshold = (total as f64 * p / 100.0) as u64;
                        let mut sum = 0;
                        tips.iter()
                            .find(|(_, gas)| {
                                sum += gas;
                                sum >= threshold
                            })
                            .or(tips.last())
                            .map_or(0, |t| t.0)
                    })
                    .collect(),
            );
        }
        // The base fee of the block after the newest one.
        let after =
            index.block(newest + 1).map_or(u128::from(next_base_fee), |b| u128::from(b.header.base_fee_per_gas));
        if count > 0 {
            history.base_fee_per_gas.push(after);
        }
        if !percentiles.is_empty() {
            history.reward = Some(rewards);
        }
        Ok(history)
    }

    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>> {
        let number = self.number_of(number);
        Ok(self.index.read().expect("index lock").block(number).map(|b| rpc_block(b, full)))
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        Ok(self.index.read().expect("index lock").block_by_hash(&hash).map(|b| rpc_block(b, full)))
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        let tx = {
            let node = self.node.lock().expect("node lock");
            node.chain()
                .decode(&raw)
                .map_err(|rejection| error_with(TX_REJECTED, format!("transaction rejected: {rejection}"), rejection))?
        };
        let hash = tx.hash;
        let (id, mut replies) = self.clients.register(8);
        let request = ClientRequest::SubmitTx(TxPacket::from(tx.envelope));
        // A full inbox is answered at once (EIP-1474 "limit exceeded"), not waited on.
        let sent = self.inbox.try_send(Event::Client { from: id, frame: encode(&request).into() });
        let verdict = async {
            sent.map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => error(LIMIT_EXCEEDED, "the validator is busy: try again"),
                mpsc::error::TrySendError::Closed(_) => error(-32603, "the validator is stopping"),
            })?;
            loop {
                let frame = replies.recv().await.ok_or_else(|| error(-32603, "the validator dropped the request"))?;
                match decode::<ClientMessage>(&frame) {
                    Ok(ClientMessage::TxAccepted { hash: h }) if h == hash => return Ok(hash),
                    Ok(ClientMessage::TxRejected { hash: h, reason }) if h == hash => {
                        if reason.is_known() {
                            return Ok(hash);
                        }
                        return Err(error_with(TX_REJECTED, format!("transaction rejected: {reason}"), reason));
                    }
                    _ => {}
                }
            }
        };
        let result = tokio::time::timeout(Duration::from_millis(SUBMIT_REPLY_MS), verdict).await;
        self.clients.remove(id);
        result.unwrap_or_else(|_| Err(error(-32603, "the validator did not answer in time")))
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let index = self.index.read().expect("index lock");
        Ok(index.tx(&hash).map(|(block, position)| rpc_tx(block, position)))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let index = self.index.read().expect("index lock");
        Ok(index.tx(&hash).map(|(block, position)| rpc_receipt(block, position)))
    }

    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        self.at_head(block)?;
        let outcome = self.simulate(&request)?;
        match (outcome.success, outcome.reverted) {
            (true, _) => Ok(outcome.output),
            (false, true) => Err(reverted(outcome.output)),
            (false, false) => Err(error(-32000, "execution halted (out of gas or an invalid operation)")),
        }
    }

    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64> {
        self.at_head(block)?;
        let cap = {
            let node = self.node.lock().expect("node lock");
            request.gas.unwrap_or(node.chain().spec().gas_limit)
        };
        let at = |gas: u64| self.simulate(&TransactionRequest { gas: Some(gas), ..request.clone() });
        let first = at(cap)?;
        if !first.success {
            return Err(if first.reverted {
                reverted(first.output)
            } else {
                error(-32000, format!("gas required exceeds allowance ({cap})"))
            });
        }
        // Gas used is usually enough; with refunds or the 63/64 rule it may not be: search.
        let (mut low, mut high) = (first.gas_used.saturating_sub(1), cap);
        if at(first.gas_used)?.success {
            return Ok(U64::from(first.gas_used));
        }
        low = low.max(first.gas_used);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if at(middle)?.success {
                high = middle;
            } else {
                low = middle;
            }
        }
        Ok(U64::from(high))
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let index = self.index.read().expect("index lock");
        let blocks: Vec<&IndexedBlock> = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => index.block_by_hash(&hash).into_iter().collect(),
            FilterBlockOption::Range { from_block, to_block } => {
                let head = index.head().map_or(0, |b| b.header.number);
                let from = from_block.map_or(head, |t| self.number_of(t));
                let to = to_block.map_or(head, |t| self.number_of(t)).min(head);
                if to >= from && to - from >= LOGS_BLOCKS_MAX {
                    return Err(error(LIMIT_EXCEEDED, format!("at most {LOGS_BLOCKS_MAX} blocks per query")));
                }
                (from..=to).filter_map(|n| index.block(n)).collect()
            }
        };
        let mut logs = Vec::new();
        for block in blocks {
            let mut first = 0;
            for position in 0..block.txs.len() {
                let tx_logs = rpc_logs(block, position, first);
                first += tx_logs.len() as u64;
                logs.extend(tx_logs.into_iter().filter(|log| filter.matches(&log.inner)));
            }
        }
        Ok(logs)
    }

    async fn subscribe(&self, pending: PendingSubscriptionSink, kind: String) -> SubscriptionResult {
        if kind != "newHeads" {
            pending.reject(invalid_params(format!("unsupported subscription {kind:?} (supported: newHeads)"))).await;
            return Ok(());
        }
        let mut heads = self.heads.subscribe();
        let sink = pending.accept().await?;
        loop {
            let block = match heads.recv().await {
                Ok(block) => block,
                // A slow subscriber misses heads rather than holding them in memory.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            let message = SubscriptionMessage::new("eth_subscription", sink.subscription_id(), &rpc_header(&block))?;
            if sink.send(message).await.is_err() {
                return Ok(());
            }
        }
    }
}

impl NetApiServer for Arc<RpcContext> {
    fn version(&self) -> RpcResult<String> {
        Ok(self.node.lock().expect("node lock").chain().spec().chain_id.to_string())
    }
}

#[async_trait]
impl ZkcrowdApiServer for Arc<RpcContext> {
    fn status(&self) -> RpcResult<Status> {
        let node = self.node.lock().expect("node lock");
        let market = node.chain().market();
        Ok(Status {
            validator: node.index(),
            head: node.chain().head().number,
            head_hash: node.chain().head_hash(),
            proven_head: node.fully_proven_head(),
            active_plugins: market.active_count(),
            open_jobs: market.open_jobs() as u64,
            mempool: node.mempool_len(),
            l1: *self.l1.read().expect("l1 lock"),
        })
    }

    fn chain_params(&self) -> RpcResult<ChainParams> {
        let node = self.node.lock().expect("node lock");
        let market = node.chain().market().params();
        Ok(ChainParams {
            chain_id: node.chain().spec().chain_id,
            block_time_ms: node.params().block_time_ms,
            heartbeat_window_blocks: market.heartbeat_window_blocks,
            proof_deadline_blocks: market.proof_deadline_blocks,
            base_fee_wei: u128::from(node.chain().head().base_fee_per_gas),
            real_proofs: format!("{:?}", market.real_proofs).to_lowercase(),
        })
    }

    fn plugin(&self, address: Address) -> RpcResult<Option<MarketPlugin>> {
        let node = self.node.lock().expect("node lock");
        let market = node.chain().market();
        Ok(market.plugin(&address).map(|p| MarketPlugin::of(market, p)))
    }

    fn market(&self) -> RpcResult<MarketState> {
        let node = self.node.lock().expect("node lock");
        let market = node.chain().market();
        let block = market.block();
        let address = |id: zkcrowd_market::PluginId| market.plugins().nth(id as usize).map(|p| p.address);
        let jobs = market
            .jobs()
            .filter_map(|job| {
                let (status, assignee, deadline_block) = match job.status {
                    zkcrowd_market::JobStatus::Open => ("open", None, None),
                    zkcrowd_market::JobStatus::Assigned { plugin, deadline_block } => {
                        ("assigned", address(plugin), Some(deadline_block))
                    }
                    _ => return None,
                };
                Some(MarketJob {
                    id: job.id,
                    kind: job.kind,
                    status,
                    assignee,
                    deadline_block,
                    bounty_wei: U256::from(market.bounty(job, block).wei()),
                    real_required: job.real_required,
                })
            })
            .take(MARKET_JOBS_MAX)
            .collect();
        Ok(MarketState {
            block,
            plugins: market.plugins().count() as u64,
            active_plugins: market.active_count(),
            open_jobs: market.open_jobs() as u64,
            assigned_jobs: market.assigned_jobs() as u64,
            jobs_created: market.jobs_created(),
            jobs,
            plugin_list: market.plugins().take(MARKET_PLUGINS_MAX).map(|p| MarketPlugin::of(market, p)).collect(),
        })
    }

    async fn client_session(&self, pending: PendingSubscriptionSink, _ext: &Extensions) -> SubscriptionResult {
        let connection = pending.connection_id().0;
        if self.sessions.lock().expect("sessions lock").contains_key(&connection) {
            pending.reject(error(NO_SESSION, "this connection has a client session already")).await;
            return Ok(());
        }
        // The session exists before the client learns it is open: its first request may arrive
        // right after the subscription's answer.
        let (id, mut frames) = self.clients.register(CLIENT_QUEUE_FRAMES_MAX);
        self.sessions.lock().expect("sessions lock").insert(connection, id);
        let sink = match pending.accept().await {
            Ok(sink) => sink,
            Err(error) => {
                self.sessions.lock().expect("sessions lock").remove(&connection);
                self.clients.remove(id);
                return Err(error.into());
            }
        };
        let forward = async {
            loop {
                tokio::select! {
                    frame = frames.recv() => {
                        let Some(frame) = frame else { return };
                        let Ok(message) = SubscriptionMessage::new("zkcrowd_clientMessage", sink.subscription_id(), &Bytes::from(frame.to_vec())) else { return };
                        if sink.send(message).await.is_err() {
                            return;
                        }
                    }
                    () = sink.closed() => return,
                }
            }
        };
        forward.await;
        self.sessions.lock().expect("sessions lock").remove(&connection);
        self.clients.remove(id);
        Ok(())
    }

    async fn client_request(&self, ext: &Extensions, frame: Bytes) -> RpcResult<()> {
        let connection = ext.get::<ConnectionId>().map(|c| c.0);
        let id = connection.and_then(|c| self.sessions.lock().expect("sessions lock").get(&c).copied()).ok_or_else(
            || error(NO_SESSION, "no client session on this connection: subscribe to zkcrowd_clientSession first"),
        )?;
        // Refused here with the codec's reason, rather than counted and dropped by the host.
        decode::<ClientRequest>(&frame).map_err(|reason| invalid_params(format!("not a client request: {reason}")))?;
        self.inbox.try_send(Event::Client { from: id, frame }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => error(LIMIT_EXCEEDED, "the validator is busy: try again"),
            mpsc::error::TrySendError::Closed(_) => error(-32603, "the validator is stopping"),
        })
    }
}

/// Starts the JSON-RPC server (HTTP and WebSocket) on `addr`.
pub async fn serve(addr: SocketAddr, context: Arc<RpcContext>) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(RPC_REQUEST_BYTES_MAX)
        .max_response_body_size(RPC_RESPONSE_BYTES_MAX)
        .max_connections(RPC_CONNECTIONS_MAX)
        .max_subscriptions_per_connection(RPC_SUBSCRIPTIONS_MAX)
        .set_batch_request_config(BatchRequestConfig::Limit(RPC_BATCH_MAX))
        .build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let addr = server.local_addr()?;
    let mut module = EthApiServer::into_rpc(context.clone());
    module.merge(NetApiServer::into_rpc(context.clone())).expect("distinct method names");
    module.merge(ZkcrowdApiServer::into_rpc(context)).expect("distinct method names");
    Ok((addr, server.start(module)))
}
