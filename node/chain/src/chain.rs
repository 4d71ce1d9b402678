//! The chain: genesis, block building by a proposer, and block import by every other validator.
//!
//! Both paths run the same [`Chain::execute`]: each transaction is checked against the state
//! (nonce, fee cap, gas, balance), executed by revm, and its state diff applied; the MPT and
//! ledger roots are recomputed after each one and recorded around it in a [`TxRecord`]. Building
//! leaves rejected txs out and defers those that do not fit; importing demands that every tx is
//! valid and that the recomputed header equals the proposed one, and undoes the block otherwise.

use alloy::consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy::consensus::{ReceiptEnvelope, Transaction, TxEnvelope, TxReceipt};
use alloy::eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy::primitives::{Address, B256, Bloom, U256, keccak256};
use alloy_evm::FromRecoveredTx;
use alloy_trie::EMPTY_ROOT_HASH;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::WrapDatabaseRef;
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE;
use revm::primitives::hardfork::SpecId;
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use zkcrowd_ledger::{MarketLedger, TreeError, digest_to_b256};
use zkcrowd_primitives::FEE_BURN_ADDRESS;

use crate::block::{Block, BlockHeader, TxKind, TxRecord, receipt};
use crate::genesis::{Genesis, GenesisError};
use crate::state::ChainState;
use crate::tx::{SignedTx, TxRejection};

/// The EVM rules the chain runs.
pub const EVM_SPEC: SpecId = SpecId::PRAGUE;

/// Fixed parameters of a chain, from its genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// Largest raw tx accepted, in bytes.
    pub max_tx_size_bytes: usize,
    /// Floor under the base fee, in wei.
    pub min_base_fee_per_gas: u64,
}

/// Running totals for the supply identity
/// `genesis balances = Σ ledger balances + fees burned` (plus market flows once the market runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Transactions committed.
    pub txs_committed: u64,
    /// Fees paid and burned (base fee and tips), in wei.
    pub fees_burned_wei: u128,
}

/// A transaction left out of a block, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Position among the candidates given to the builder.
    pub position: usize,
    /// The tx hash.
    pub hash: B256,
    /// The reason.
    pub reason: TxRejection,
}

/// What building or importing a block produced.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: B256,
    /// Receipts, one per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Per-transaction records with pre/post roots.
    pub txs: Vec<TxRecord>,
    /// Candidates refused, with reasons (building only).
    pub rejected: Vec<Rejected>,
    /// Positions of valid candidates that did not fit in the block's gas (building only).
    pub deferred: Vec<usize>,
}

/// Why a proposed block was refused on import. The state is left as it was before the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Wrong parent or height.
    #[error("block {number} does not extend the head: {reason}")]
    NotChild {
        /// The block's number.
        number: u64,
        /// What did not match.
        reason: String,
    },
    /// A transaction in the block is invalid.
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTx {
        /// Its index in the block.
        index: usize,
        /// Why.
        reason: TxRejection,
    },
    /// The transactions need more gas than the block has.
    #[error("transactions exceed the block gas limit")]
    GasLimitExceeded,
    /// Re-execution gave a different header field.
    #[error("header field {field} differs: proposed {proposed}, computed {computed}")]
    HeaderMismatch {
        /// The field.
        field: &'static str,
        /// The proposer's value.
        proposed: String,
        /// This node's value.
        computed: String,
    },
    /// The account ledger is full.
    #[error("ledger: {0}")]
    Ledger(#[from] TreeError),
}

enum Mode {
    Build,
    Import,
}

/// The chain state machine of one node.
#[derive(Debug)]
pub struct Chain {
    spec: ChainSpec,
    state: ChainState,
    market: MarketLedger,
    head: BlockHeader,
    head_hash: B256,
    genesis_supply_wei: u128,
    totals: Totals,
}

impl Chain {
    /// Builds block 0 from a validated genesis.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let mut state = ChainState::new();
        for allocation in genesis.allocations() {
            state
                .insert_genesis_account(allocation.address, allocation.balance, allocation.nonce, allocation.code)
                .map_err(|e| GenesisError::Invalid(e.to_string()))?;
        }
        let mut market = MarketLedger::new();
        let base_fee = u64::try_from(genesis.base_fee_per_gas.wei()).expect("validated to fit u64");
        let min_base_fee = genesis
            .min_base_fee_per_gas
            .map_or(base_fee, |m| u64::try_from(m.wei()).unwrap_or(u64::MAX));
        let head = BlockHeader {
            parent_hash: B256::ZERO,
            number: 0,
            timestamp: genesis.timestamp,
            proposer: Address::ZERO,
            gas_limit: genesis.gas_limit,
            gas_used: 0,
            base_fee_per_gas: base_fee,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            state_root: state.state_root(),
            ledger_root: state.ledger_root(),
            market_root: digest_to_b256(market.root()),
            prev_randao: keccak256(B256::ZERO),
        };
        let head_hash = head.hash();
        state.record_block_hash(0, head_hash);
        Ok(Self {
            spec: ChainSpec {
                chain_id: genesis.chain_id,
                gas_limit: genesis.gas_limit,
                max_tx_size_bytes: genesis.max_tx_size_bytes,
                min_base_fee_per_gas: min_base_fee,
            },
            state,
            market,
            head,
            head_hash,
            genesis_supply_wei: genesis.allocations().iter().map(|a| a.balance).sum(),
            totals: Totals::default(),
        })
    }

    /// The chain's parameters.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The latest block's header.
    pub fn head(&self) -> &BlockHeader {
        &self.head
    }

    /// The latest block's hash.
    pub fn head_hash(&self) -> B256 {
        self.head_hash
    }

    /// The state after the latest block.
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// The state, for ledger paths and roots.
    pub fn state_mut(&mut self) -> &mut ChainState {
        &mut self.state
    }

    /// The market ledger.
    pub fn market(&self) -> &MarketLedger {
        &self.market
    }

    /// Balances at genesis (excluding stake), in wei.
    pub fn genesis_supply_wei(&self) -> u128 {
        self.genesis_supply_wei
    }

    /// Running totals.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The base fee the next block will have (EIP-1559, floored).
    pub fn next_base_fee(&self) -> u64 {
        let next = calc_next_block_base_fee(
            self.head.gas_used,
            self.head.gas_limit,
            self.head.base_fee_per_gas,
            BaseFeeParams::ethereum(),
        );
        next.max(self.spec.min_base_fee_per_gas)
    }

    /// Decodes raw bytes with this chain's id and size limit.
    pub fn decode(&self, raw: &[u8]) -> Result<SignedTx, TxRejection> {
        SignedTx::decode(raw, self.spec.chain_id, self.spec.max_tx_size_bytes)
    }

    /// Stateful checks against the current head state, with the next block's base fee.
    pub fn check(&self, tx: &SignedTx) -> Result<(), TxRejection> {
        self.check_against_state(tx, self.next_base_fee())
    }

    fn check_against_state(&self, tx: &SignedTx, base_fee: u64) -> Result<(), TxRejection> {
        let expected = self.state.nonce(&tx.sender);
        let got = tx.envelope.nonce();
        if got < expected {
            return Err(TxRejection::NonceTooLow { expected, got });
        }
        if got > expected {
            return Err(TxRejection::NonceGap { expected, got });
        }
        if tx.envelope.gas_limit() > self.spec.gas_limit {
            return Err(TxRejection::GasAboveBlockLimit {
                gas_limit: tx.envelope.gas_limit(),
                block_gas_limit: self.spec.gas_limit,
            });
        }
        if tx.envelope.max_fee_per_gas() < u128::from(base_fee) {
            return Err(TxRejection::FeeCapBelowBaseFee {
                max_fee_per_gas: tx.envelope.max_fee_per_gas(),
                base_fee_per_gas: base_fee,
            });
        }
        let available = self.state.balance(&tx.sender);
        let required = tx.max_cost();
        if available < required {
            return Err(TxRejection::InsufficientBalance { required, available });
        }
        Ok(())
    }

    /// Builds the next block from `candidates`, in order: invalid ones are rejected with a reason,
    /// valid ones that do not fit the remaining gas are deferred. The block becomes the head.
    ///
    /// # Panics
    /// If `timestamp` is not after the head's (the caller's clock is monotonic).
    pub fn build_block(&mut self, candidates: &[SignedTx], timestamp: u64, proposer: Address) -> BlockOutcome {
        assert!(timestamp > self.head.timestamp, "timestamp {timestamp} not after the head's");
        let outcome = self
            .execute(candidates, timestamp, proposer, Mode::Build)
            .expect("building never fails: bad candidates are rejected, not fatal");
        self.finish(&outcome);
        outcome
    }

    /// Re-executes a proposed block and makes it the head if every transaction is valid and the
    /// recomputed header equals the proposed one; otherwise undoes it and says why.
    pub fn import_block(&mut self, block: &Block) -> Result<BlockOutcome, ImportError> {
        let header = &block.header;
        if header.number != self.head.number + 1 || header.parent_hash != self.head_hash {
            return Err(ImportError::NotChild {
                number: header.number,
                reason: format!(
                    "head is {} ({}), block has parent {}",
                    self.head.number, self.head_hash, header.parent_hash
                ),
            });
        }
        if header.timestamp <= self.head.timestamp {
            return Err(ImportError::NotChild {
                number: header.number,
                reason: format!("timestamp {} not after {}", header.timestamp, self.head.timestamp),
            });
        }
        let mut signed = Vec::with_capacity(block.transactions.len());
        for (index, envelope) in block.transactions.iter().enumerate() {
            let tx = SignedTx::from_envelope(envelope.clone(), self.spec.chain_id)
                .map_err(|reason| ImportError::InvalidTx { index, reason })?;
            signed.push(tx);
        }
        let outcome = self.execute(&signed, header.timestamp, header.proposer, Mode::Import)?;
        if let Err(error) = compare_headers(header, &outcome.block.header) {
            self.state.revert_block();
            return Err(error);
        }
        self.finish(&outcome);
        Ok(outcome)
    }

    /// Makes an executed block the head.
    fn finish(&mut self, outcome: &BlockOutcome) {
        self.state.commit_block();
        self.state.record_block_hash(outcome.block.header.number, outcome.hash);
        self.head = outcome.block.header.clone();
        self.head_hash = outcome.hash;
        self.totals.txs_committed += outcome.txs.len() as u64;
        self.totals.fees_burned_wei += outcome.txs.iter().map(|t| t.fee_wei).sum::<u128>();
    }

    /// Executes a block on top of the head, leaving its changes journaled but not committed:
    /// the caller either [`Self::finish`]es it or reverts it. On error, it is already reverted.
    fn execute(
        &mut self,
        candidates: &[SignedTx],
        timestamp: u64,
        proposer: Address,
        mode: Mode,
    ) -> Result<BlockOutcome, ImportError> {
        let number = self.head.number + 1;
        let base_fee = self.next_base_fee();
        let prev_randao = keccak256(self.head_hash);
        let block_env = BlockEnv {
            number: U256::from(number),
            beneficiary: FEE_BURN_ADDRESS,
            timestamp: U256::from(timestamp),
            gas_limit: self.spec.gas_limit,
            basefee: base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(prev_randao),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
                0,
                BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
            )),
            slot_num: 0,
        };
        let mut cfg = CfgEnv::new_with_spec(EVM_SPEC);
        cfg.chain_id = self.spec.chain_id;

        self.state.begin_block();
        let mut pre_state_root = self.head.state_root;
        let mut pre_ledger_root = self.head.ledger_root;
        let mut gas_used: u64 = 0;
        let mut included: Vec<TxEnvelope> = Vec::new();
        let mut receipts: Vec<ReceiptEnvelope> = Vec::new();
        let mut records: Vec<TxRecord> = Vec::new();
        let mut rejected: Vec<Rejected> = Vec::new();
        let mut deferred: Vec<usize> = Vec::new();

        for (position, tx) in candidates.iter().enumerate() {
            let fail = |reason: TxRejection| -> Result<(), ImportError> {
                match mode {
                    Mode::Build => Ok(()),
                    Mode::Import => Err(ImportError::InvalidTx { index: position, reason }),
                }
            };
            if let Err(reason) = self.check_against_state(tx, base_fee) {
                if let Err(error) = fail(reason.clone()) {
                    self.state.revert_block();
                    return Err(error);
                }
                rejected.push(Rejected { position, hash: tx.hash, reason });
                continue;
            }
            if gas_used + tx.envelope.gas_limit() > self.spec.gas_limit {
                if matches!(mode, Mode::Import) {
                    self.state.revert_block();
                    return Err(ImportError::GasLimitExceeded);
                }
                deferred.push(position);
                continue;
            }
            let to = tx.envelope.to();
            let kind = match to {
                None => TxKind::ContractCreate,
                Some(to) if self.state.has_code(&to) || !tx.envelope.input().is_empty() => TxKind::ContractCall,
                Some(_) => TxKind::Transfer,
            };
            let tx_env = TxEnv::from_recovered_tx(&tx.envelope, tx.sender);
            let result = {
                let mut evm = Context::mainnet()
                    .with_db(WrapDatabaseRef(&self.state))
                    .with_cfg(cfg.clone())
                    .with_block(block_env.clone())
                    .build_mainnet();
                evm.transact(tx_env)
            };
            let output = match result {
                Ok(output) => output,
                Err(error) => {
                    let reason = TxRejection::Evm(error.to_string());
                    if let Err(error) = fail(reason.clone()) {
                        self.state.revert_block();
                        return Err(error);
                    }
                    rejected.push(Rejected { position, hash: tx.hash, reason });
                    continue;
                }
            };
            if let Err(error) = self.state.apply_evm_state(output.state) {
                self.state.revert_block();
                return Err(error.into());
            }
            let tx_gas = output.result.tx_gas_used();
            gas_used += tx_gas;
            let success = output.result.is_success();
            let fee_wei = u128::from(tx_gas) * tx.envelope.effective_gas_price(Some(base_fee));
            let post_state_root = self.state.state_root();
            let post_ledger_root = self.state.ledger_root();
            records.push(TxRecord {
                block_number: number,
                index: u32::try_from(included.len()).expect("txs per block fit u32"),
                hash: tx.hash,
                sender: tx.sender,
                to,
                value: tx.envelope.value(),
                nonce: tx.envelope.nonce(),
                kind,
                success,
                gas_used: tx_gas,
                fee_wei,
                pre_state_root,
                post_state_root,
                pre_ledger_root,
                post_ledger_root,
            });
            receipts.push(receipt(tx.envelope.tx_type(), success, gas_used, output.result.into_logs()));
            included.push(tx.envelope.clone());
            pre_state_root = post_state_root;
            pre_ledger_root = post_ledger_root;
        }

        let mut logs_bloom = Bloom::ZERO;
        for r in &receipts {
            logs_bloom.accrue_bloom(&r.bloom());
        }
        let header = BlockHeader {
            parent_hash: self.head_hash,
            number,
            timestamp,
            proposer,
            gas_limit: self.spec.gas_limit,
            gas_used,
            base_fee_per_gas: base_fee,
            transactions_root: calculate_transaction_root(&included),
            receipts_root: calculate_receipt_root(&receipts),
            logs_bloom,
            state_root: pre_state_root,
            ledger_root: pre_ledger_root,
            market_root: digest_to_b256(self.market.root()),
            prev_randao,
        };
        let hash = header.hash();
        Ok(BlockOutcome {
            block: Block { header, transactions: included },
            hash,
            receipts,
            txs: records,
            rejected,
            deferred,
        })
    }
}

/// Compares a proposed header with the recomputed one, naming the first differing field.
fn compare_headers(proposed: &BlockHeader, computed: &BlockHeader) -> Result<(), ImportError> {
    macro_rules! check {
        ($($field:ident),*) => {$(
            if proposed.$field != computed.$field {
                return Err(ImportError::HeaderMismatch {
                    field: stringify!($field),
                    proposed: format!("{:?}", proposed.$field),
                    computed: format!("{:?}", computed.$field),
                });
            }
        )*};
    }
    check!(
        parent_hash, number, timestamp, proposer, gas_limit, gas_used, base_fee_per_gas,
        transactions_root, receipts_root, logs_bloom, state_root, ledger_root, market_root, prev_randao
    );
    Ok(())
}
