//! The embedded L1: revm in process, running the same contract bytecode as anvil, for sweeps where
//! spawning a process per run costs more than the run. It builds no headers (no block hashes) and
//! charges no fees (base fee 0); gas used per transaction is the EVM's and matches anvil's.

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_evm::FromRecoveredTx;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::{DatabaseCommit, WrapDatabaseRef};
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE;
use revm::primitives::hardfork::SpecId;
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};

use crate::backend::{L1Backend, L1Block, L1Error, L1Receipt};

/// Gas limit of an embedded L1 block (anvil's default).
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// revm with an in-memory state.
pub struct EmbeddedL1 {
    db: CacheDB<EmptyDB>,
    chain_id: u64,
    number: u64,
    timestamp: u64,
    pool: Vec<(TxEnvelope, Address)>,
}

impl EmbeddedL1 {
    /// An empty chain at block 0 with `genesis_timestamp`.
    pub fn new(chain_id: u64, genesis_timestamp: u64) -> Self {
        Self {
            db: CacheDB::new(EmptyDB::default()),
            chain_id,
            number: 0,
            timestamp: genesis_timestamp,
            pool: Vec::new(),
        }
    }

    fn env(&self, number: u64, timestamp: u64) -> (BlockEnv, CfgEnv) {
        let block = BlockEnv {
            number: U256::from(number),
            beneficiary: Address::ZERO,
            timestamp: U256::from(timestamp),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: 0,
            difficulty: U256::ZERO,
            prevrandao: Some(B256::ZERO),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)),
            slot_num: 0,
        };
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = self.chain_id;
        (block, cfg)
    }
}

impl L1Backend for EmbeddedL1 {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn set_balance(&mut self, address: Address, wei: U256) -> Result<(), L1Error> {
        let mut info =
            self.db.load_account(address).map_err(|e| L1Error::Refused(e.to_string()))?.info().unwrap_or_default();
        info.balance = wei;
        self.db.insert_account_info(address, info);
        Ok(())
    }

    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error> {
        let sender = tx.recover_signer().map_err(|e| L1Error::Refused(format!("bad signature: {e}")))?;
        self.pool.push((tx.clone(), sender));
        Ok(*tx.tx_hash())
    }

    fn mine(&mut self, timestamp: u64) -> Result<L1Block, L1Error> {
        if timestamp <= self.timestamp {
            return Err(L1Error::Refused(format!("timestamp {timestamp} is not after the head's {}", self.timestamp)));
        }
        let number = self.number + 1;
        let (block_env, cfg) = self.env(number, timestamp);
        let mut receipts = Vec::new();
        let mut gas_used = 0;
        let mut gas_reserved = 0;
        let mut left = Vec::new();
        for (tx, sender) in std::mem::take(&mut self.pool) {
            // As anvil: a transaction whose gas limit no longer fits waits for the next block.
            if gas_reserved + tx.gas_limit() > BLOCK_GAS_LIMIT || !left.is_empty() {
                left.push((tx, sender));
                continue;
            }
            gas_reserved += tx.gas_limit();
            let tx_env = TxEnv::from_recovered_tx(&tx, sender);
            let result = {
                let mut evm = Context::mainnet()
                    .with_db(WrapDatabaseRef(&self.db))
                    .with_cfg(cfg.clone())
                    .with_block(block_env.clone())
                    .build_mainnet();
                evm.transact(tx_env)
            };
            // An invalid transaction (nonce, balance) is not included, as on any Ethereum node.
            let Ok(output) = result else {
                tracing::warn!(hash = %tx.tx_hash(), "embedded L1: transaction dropped: {:?}", result.err());
                continue;
            };
            let tx_gas = output.result.tx_gas_used();
            gas_used += tx_gas;
            let (success, revert_data, created) = match &output.result {
                ExecutionResult::Success { output: Output::Create(_, address), .. } => (true, Bytes::new(), *address),
                ExecutionResult::Success { .. } => (true, Bytes::new(), None),
                ExecutionResult::Revert { output, .. } => (false, output.clone(), None),
                ExecutionResult::Halt { .. } => (false, Bytes::new(), None),
            };
            self.db.commit(output.state);
            receipts.push(L1Receipt { tx_hash: *tx.tx_hash(), success, gas_used: tx_gas, revert_data, created });
        }
        self.pool = left;
        self.number = number;
        self.timestamp = timestamp;
        Ok(L1Block { number, timestamp, hash: None, gas_used, receipts })
    }

    fn call(&mut self, to: Address, input: Bytes) -> Result<Bytes, L1Error> {
        let (block_env, mut cfg) = self.env(self.number, self.timestamp);
        cfg.disable_nonce_check = true;
        let tx = TxEnv::builder()
            .caller(Address::ZERO)
            .kind(TxKind::Call(to))
            .data(input)
            .gas_limit(BLOCK_GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| L1Error::Refused(format!("{e:?}")))?;
        let mut evm =
            Context::mainnet().with_db(WrapDatabaseRef(&self.db)).with_cfg(cfg).with_block(block_env).build_mainnet();
        let output = evm.transact(tx).map_err(|e| L1Error::Refused(e.to_string()))?;
        match output.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(L1Error::Reverted(crate::contract::revert_reason(&output))),
            ExecutionResult::Halt { reason, .. } => Err(L1Error::Reverted(format!("halted: {reason:?}"))),
        }
    }
}
