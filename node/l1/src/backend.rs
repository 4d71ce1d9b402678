//! One blocking interface over the two L1s ([`crate::AnvilL1`], [`crate::EmbeddedL1`]).
//!
//! Lockstep: transactions wait in a pool until [`L1Backend::mine`] seals one block at the caller's
//! timestamp. The caller (the simulator, or a node's agent loop) owns time; the L1 never mines on
//! its own, so a run is reproducible from its seed.

use alloy::consensus::TxEnvelope;
use alloy::primitives::{Address, B256, Bytes, U256};

/// Why an L1 call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L1Error {
    /// The L1 cannot be reached (a fault, or the process died).
    #[error("L1 unavailable: {0}")]
    Unavailable(String),
    /// The node refused the request (bad nonce, underpriced, ...).
    #[error("L1 refused the request: {0}")]
    Refused(String),
    /// A view call reverted.
    #[error("call reverted: {0}")]
    Reverted(String),
    /// A compiled contract is missing or unreadable.
    #[error("contract artifact {path}: {why}")]
    Artifact {
        /// Artifact path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// anvil could not be started.
    #[error("could not start anvil: {0}")]
    Spawn(String),
    /// Deployment failed.
    #[error("deployment failed: {0}")]
    Deploy(String),
}

/// The outcome of one mined transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Receipt {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Whether it succeeded.
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Revert data of a failed transaction (decode with [`crate::contract::revert_reason`]).
    pub revert_data: Bytes,
    /// Address created by a successful contract creation.
    pub created: Option<Address>,
}

/// A mined L1 block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Block {
    /// Number.
    pub number: u64,
    /// Timestamp, seconds.
    pub timestamp: u64,
    /// Block hash (anvil); `None` for the embedded L1, which does not build headers.
    pub hash: Option<B256>,
    /// Gas used by the block.
    pub gas_used: u64,
    /// Receipts of the block's transactions, in order.
    pub receipts: Vec<L1Receipt>,
}

/// Stops an L1 process when dropped (or on [`StopHandle::stop`]), even if its [`L1Backend`] was
/// leaked: a simulation's tasks are not dropped when the runtime ends, and an orphaned anvil would
/// hold its parent's output pipes open.
pub struct StopHandle(Option<Box<dyn FnOnce() + Send>>);

impl StopHandle {
    /// A handle that runs `stop` once.
    pub fn new(stop: impl FnOnce() + Send + 'static) -> Self {
        Self(Some(Box::new(stop)))
    }

    /// Stops the L1 now.
    pub fn stop(mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

impl Drop for StopHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

/// An L1 driven in lockstep.
pub trait L1Backend: Send {
    /// `anvil` or `embedded`.
    fn kind(&self) -> &'static str;
    /// EIP-155 chain id.
    fn chain_id(&self) -> u64;
    /// Sets an account's balance (test chains only).
    fn set_balance(&mut self, address: Address, wei: U256) -> Result<(), L1Error>;
    /// Adds a signed transaction to the pool of the next block; returns its hash.
    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error>;
    /// Seals one block at `timestamp` with the pooled transactions, in the order they were sent.
    fn mine(&mut self, timestamp: u64) -> Result<L1Block, L1Error>;
    /// A view call on the latest state.
    fn call(&mut self, to: Address, input: Bytes) -> Result<Bytes, L1Error>;
    /// A handle that stops the L1's process, for L1s that have one.
    fn stop_handle(&self) -> Option<StopHandle> {
        None
    }
}
