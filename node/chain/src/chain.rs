//! The chain: genesis, block building by a proposer, and block import by every other validator.
//!
//! Both paths run the same [`Chain::execute`]: each transaction is checked against the state
//! (nonce, fee cap, gas, balance), executed by revm, and its state diff applied; the MPT and
//! ledger roots are recomputed after each one and recorded around it in a [`TxRecord`]. Building
//! leaves rejected txs out and defers those that do not fit; importing demands that every tx is
//! valid and that the recomputed header equals the proposed one, and undoes the block otherwise.
//!
//! Market transactions (to [`MARKET_ADDRESS`]) go after user transactions in a block, so the block's
//! system span is contiguous and proven by one system job. So that a flood of user transactions
//! cannot defer them, the builder keeps room for the market calls it is offered (their gas limits,
//! up to half the block's gas) when it takes user transactions. revm executes them like any call (gas,
//! nonce, value to the market address); the market then applies the call and the value is settled
//! in revm's state diff before it is committed: a repayment leaves native supply for the market
//! balance, a refused call's value and a withdrawal are credited to the sender, and the market
//! address keeps nothing. At the end of the block the market creates the block's jobs, charges
//! missed deadlines and assigns work; its root goes in the header.

use alloy::consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy::consensus::{ReceiptEnvelope, Transaction, TxEnvelope, TxReceipt};
use alloy::eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bloom, Bytes, U256, keccak256};
use alloy_evm::FromRecoveredTx;
use alloy_trie::EMPTY_ROOT_HASH;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::WrapDatabaseRef;
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE;
use revm::primitives::hardfork::SpecId;
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use std::collections::BTreeSet;
use std::sync::Arc;

use zkcrowd_ledger::{Digest, TreeError, b256_to_digest, digest_to_b256};
use zkcrowd_market::{
    JobKind, Market, MarketEvent, ModeledVerifier, NewJob, ProofVerifier, binds_effect, call_commitment,
    combine_commitments, transfer_commitment, tx_commitment,
};
use zkcrowd_primitives::{FEE_BURN_ADDRESS, MARKET_ADDRESS};

use crate::block::{Block, BlockHeader, Sidecar, TxKind, TxRecord, receipt};
use crate::genesis::{Genesis, GenesisError};
use crate::state::{ChainState, LedgerChange};
use crate::tx::{SenderCache, SignedTx, TxRejection, check_sidecar};

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

/// Most bytes of transactions (EIP-2718 encoded) and sidecars in one block: a consensus rule (the
/// builder defers what does not fit, import refuses a block above it), so that every valid block
/// fits the wire's proposal limit (`zkcrowd_node`'s codec). A full 300M-gas block of calldata is
/// at most ~19 MB; the rest is room for proof sidecars.
pub const BLOCK_BYTES_MAX: usize = 32 << 20;

/// Running totals of the chain (the market keeps its own, see [`zkcrowd_market::Accounts`]).
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
    /// What the market did in this block, in order.
    pub market_events: Vec<MarketEvent>,
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
    /// The transactions and their sidecars exceed [`BLOCK_BYTES_MAX`].
    #[error("transactions and sidecars exceed {BLOCK_BYTES_MAX} bytes")]
    BytesExceeded,
    /// A user transaction follows a market transaction.
    #[error("transaction {index} is a user transaction after a market transaction")]
    SystemTxOrder {
        /// Its index in the block.
        index: usize,
    },
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
    /// Building a proposal: user transactions may use at most `user_gas_max` of the block's gas
    /// (the rest is kept for the market calls among the candidates, which execute after them).
    Build {
        user_gas_max: u64,
    },
    Import,
}

/// The chain state machine of one node.
pub struct Chain {
    spec: ChainSpec,
    /// The hash of the executed, uncommitted block.
    open: Option<B256>,
    state: ChainState,
    market: Market,
    verifier: Arc<dyn ProofVerifier>,
    head: BlockHeader,
    head_hash: B256,
    genesis_supply_wei: u128,
    totals: Totals,
    /// Deliberate bugs switched on by a test host ([`Chain::set_test_bug`]).
    #[cfg(feature = "test-bugs")]
    test_bugs: Vec<zkcrowd_primitives::TestBug>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("head", &self.head.number).field("head_hash", &self.head_hash).finish()
    }
}

/// A call to execute on the head state without committing it ([`Chain::simulate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// The caller.
    pub from: Address,
    /// The callee; `None` creates a contract.
    pub to: Option<Address>,
    /// Gas limit (default: the block's).
    pub gas_limit: Option<u64>,
    /// Gas price paid (default: none, and no base fee).
    pub gas_price: Option<u128>,
    /// Value sent.
    pub value: U256,
    /// Calldata (or init code).
    pub input: Bytes,
}

/// What a simulated call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// It returned normally.
    pub success: bool,
    /// It ended with `REVERT` (the output is the revert data); otherwise a failure is a halt.
    pub reverted: bool,
    /// Gas it used.
    pub gas_used: u64,
    /// Return data, revert data, or the created code.
    pub output: Bytes,
}

/// Why a call could not be simulated at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Its gas limit is above the block's.
    #[error("gas limit {gas_limit} above the block gas limit {block_gas_limit}")]
    GasAboveBlockLimit {
        /// The call's.
        gas_limit: u64,
        /// The block's.
        block_gas_limit: u64,
    },
    /// The EVM refused the transaction before executing it (insufficient funds, intrinsic gas…).
    #[error("{0}")]
    Invalid(String),
}

impl Chain {
    /// Builds block 0 from a validated genesis, verifying proofs with the modeled verifier (real
    /// proofs are refused until [`Self::from_genesis_with_verifier`] is given a real one).
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        Self::from_genesis_with_verifier(genesis, Arc::new(ModeledVerifier))
    }

    /// Builds block 0 with the given proof verifier.
    pub fn from_genesis_with_verifier(
        genesis: &Genesis,
        verifier: Arc<dyn ProofVerifier>,
    ) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let mut state = ChainState::new();
        for allocation in genesis.allocations() {
            state
                .insert_genesis_account(allocation.address, allocation.balance, allocation.nonce, allocation.code)
                .map_err(|e| GenesisError::Invalid(e.to_string()))?;
        }
        let mut market =
            Market::new(genesis.market.clone()).map_err(|e| GenesisError::Invalid(format!("market: {e}")))?;
        // The supply cap holds for what the market mints too (issuance, shortfall): balances and
        // stakes at genesis plus everything ever minted stay below it.
        let genesis_supply: u128 = genesis.allocations().iter().map(|a| a.balance).sum::<u128>()
            + genesis.validators.iter().map(|v| v.stake.wei()).sum::<u128>();
        market.set_mint_room(crate::genesis::SUPPLY_WEI_MAX.saturating_sub(genesis_supply));
        market.set_chain_id(genesis.chain_id);
        let base_fee = u64::try_from(genesis.base_fee_per_gas.wei()).expect("validated to fit u64");
        let min_base_fee =
            genesis.min_base_fee_per_gas.map_or(base_fee, |m| u64::try_from(m.wei()).unwrap_or(u64::MAX));
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
            market_root: market.root(),
            prev_randao: keccak256(B256::ZERO),
        };
        let head_hash = head.hash();
        state.record_block_hash(0, head_hash);
        Ok(Self {
            open: None,
            spec: ChainSpec {
                chain_id: genesis.chain_id,
                gas_limit: genesis.gas_limit,
                max_tx_size_bytes: genesis.max_tx_size_bytes,
                min_base_fee_per_gas: min_base_fee,
            },
            state,
            market,
            verifier,
            head,
            head_hash,
            genesis_supply_wei: genesis.allocations().iter().map(|a| a.balance).sum(),
            totals: Totals::default(),
            #[cfg(feature = "test-bugs")]
            test_bugs: Vec::new(),
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

    /// **Test only**: switches on a deliberate bug (see [`zkcrowd_primitives::TestBug`]); market
    /// bugs are passed on to the market.
    #[cfg(feature = "test-bugs")]
    pub fn set_test_bug(&mut self, bug: zkcrowd_primitives::TestBug) {
        self.test_bugs.push(bug);
        self.market.set_test_bug(bug);
    }

    /// The proving market.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// The proof verifier.
    pub fn verifier(&self) -> &Arc<dyn ProofVerifier> {
        &self.verifier
    }

    /// Checks the supply identity: everything minted since genesis equals everything held or burned,
    ///
    /// `genesis balances + issued + shortfall minted + fees recycled
    ///  = Σ ledger balances + Σ market balances + reward pool + fees burned + penalties burned`.
    ///
    /// Returns both sides on failure.
    pub fn check_supply(&self) -> Result<(), String> {
        let accounts = self.market.accounts();
        if !accounts.identity_holds(self.market.balances_total().wei()) {
            return Err(format!("market accounts do not balance: {accounts:?}"));
        }
        let minted = self.genesis_supply_wei + accounts.issued + accounts.shortfall_minted + accounts.fees_recycled;
        let native: u128 = self.state.ledger().leaves().iter().map(|leaf| leaf.balance).sum();
        let held = native as i128 + self.market.balances_total().wei() + accounts.pool as i128;
        let burned = self.totals.fees_burned_wei as i128 + accounts.penalties_burned as i128;
        if minted as i128 != held + burned {
            return Err(format!(
                "supply: minted {minted} wei but held {held} + burned {burned} = {} wei",
                held + burned
            ));
        }
        Ok(())
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

    /// Executes `call` on the head state, in the next block's environment, and throws the result
    /// away (`eth_call`, `eth_estimateGas`). No nonce check; without a gas price the call pays
    /// nothing (the block's base fee is taken as zero for it), so any sender may call. A call to
    /// the market runs as a call to an account without code (its intrinsic gas): the market's
    /// effects are not simulated.
    pub fn simulate(&self, call: &CallRequest) -> Result<CallOutcome, CallError> {
        let gas_limit = call.gas_limit.unwrap_or(self.spec.gas_limit);
        if gas_limit > self.spec.gas_limit {
            return Err(CallError::GasAboveBlockLimit { gas_limit, block_gas_limit: self.spec.gas_limit });
        }
        let gas_price = call.gas_price.unwrap_or(0);
        let number = self.head.number + 1;
        let block_env = BlockEnv {
            number: U256::from(number),
            beneficiary: FEE_BURN_ADDRESS,
            timestamp: U256::from(self.head.timestamp + 1),
            gas_limit: self.spec.gas_limit,
            basefee: if gas_price == 0 { 0 } else { self.next_base_fee() },
            difficulty: U256::ZERO,
            prevrandao: Some(keccak256(self.head_hash)),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)),
            slot_num: 0,
        };
        let mut cfg = CfgEnv::new_with_spec(EVM_SPEC);
        cfg.chain_id = self.spec.chain_id;
        cfg.disable_nonce_check = true;
        let tx_env = TxEnv {
            tx_type: 2,
            caller: call.from,
            gas_limit,
            gas_price,
            kind: call.to.map_or(revm::primitives::TxKind::Create, revm::primitives::TxKind::Call),
            value: call.value,
            data: call.input.clone(),
            nonce: self.state.nonce(&call.from),
            chain_id: Some(self.spec.chain_id),
            gas_priority_fee: Some(0),
            ..TxEnv::default()
        };
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(&self.state))
            .with_cfg(cfg)
            .with_block(block_env)
            .build_mainnet();
        let result = evm.transact(tx_env).map_err(|error| CallError::Invalid(error.to_string()))?.result;
        let gas_used = result.tx_gas_used();
        let success = result.is_success();
        let reverted = matches!(result, revm::context::result::ExecutionResult::Revert { .. });
        let output = result.into_output().unwrap_or_default();
        Ok(CallOutcome { success, reverted, gas_used, output })
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
        check_sidecar(tx.envelope.to(), tx.sidecar.as_ref())?;
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
        let mut outcome = self.build_block_open(candidates, timestamp, proposer);
        self.commit_block(&mut outcome);
        outcome
    }

    /// Like [`Self::build_block`], but leaves the block open: [`Self::commit_block`] makes it the
    /// head, [`Self::revert_block`] undoes it (a proposal that consensus may not decide).
    pub fn build_block_open(&mut self, candidates: &[SignedTx], timestamp: u64, proposer: Address) -> BlockOutcome {
        assert!(!self.has_open_block(), "a block is already open");
        assert!(timestamp > self.head.timestamp, "timestamp {timestamp} not after the head's");
        // Market transactions go last, keeping their relative order (see the module documentation).
        let (user, system): (Vec<usize>, Vec<usize>) =
            (0..candidates.len()).partition(|&i| candidates[i].envelope.to() != Some(MARKET_ADDRESS));
        // Market calls execute after user txs, so a block filled with user txs would defer every
        // one of them: keep room for the market calls offered, up to half the block's gas.
        let system_gas: u64 = system.iter().map(|&i| candidates[i].envelope.gas_limit()).fold(0, u64::saturating_add);
        let user_gas_max = self.spec.gas_limit - system_gas.min(self.spec.gas_limit / 2);
        let order: Vec<usize> = user.into_iter().chain(system).collect();
        let ordered: Vec<SignedTx> = order.iter().map(|&i| candidates[i].clone()).collect();
        // In build mode `execute` rejects bad candidates instead of failing; its one other error,
        // a full ledger while applying a tx, is ruled out by the room check before each tx (and
        // `ChainState::apply_changes` checks room before writing anything), so this cannot fire.
        let mut outcome = self
            .execute(&ordered, timestamp, proposer, Mode::Build { user_gas_max })
            .expect("building rejects bad candidates and checks ledger room before applying a tx");
        for rejected in &mut outcome.rejected {
            rejected.position = order[rejected.position];
        }
        for deferred in &mut outcome.deferred {
            *deferred = order[*deferred];
        }
        outcome.deferred.sort_unstable();
        self.open = Some(outcome.hash);
        outcome
    }

    /// Re-executes a proposed block and makes it the head if every transaction is valid and the
    /// recomputed header equals the proposed one; otherwise undoes it and says why.
    pub fn import_block(&mut self, block: &Block) -> Result<BlockOutcome, ImportError> {
        let mut outcome = self.execute_block(block, None)?;
        self.commit_block(&mut outcome);
        Ok(outcome)
    }

    /// Re-executes a proposed block and leaves it open if valid (see [`Self::build_block_open`]).
    /// `senders` caches signature recovery across calls (and validators of one process).
    pub fn execute_block(&mut self, block: &Block, senders: Option<&SenderCache>) -> Result<BlockOutcome, ImportError> {
        assert!(!self.has_open_block(), "a block is already open");
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
        let mut seen_system = false;
        for (index, envelope) in block.transactions.iter().enumerate() {
            let is_system = envelope.to() == Some(MARKET_ADDRESS);
            if seen_system && !is_system {
                return Err(ImportError::SystemTxOrder { index });
            }
            seen_system |= is_system;
            let tx = match senders {
                Some(cache) => SignedTx::from_envelope_cached(envelope.clone(), self.spec.chain_id, cache),
                None => SignedTx::from_envelope(envelope.clone(), self.spec.chain_id),
            }
            .map_err(|reason| ImportError::InvalidTx { index, reason })?;
            signed.push(tx);
        }
        let mut last_index = None;
        for sidecar in &block.sidecars {
            let index = sidecar.index as usize;
            let tx = signed
                .get_mut(index)
                .filter(|_| last_index.is_none_or(|last| last < index))
                .ok_or(ImportError::InvalidTx { index, reason: TxRejection::SidecarMisplaced })?;
            tx.sidecar = Some(sidecar.bytes.clone());
            last_index = Some(index);
        }
        let outcome = self.execute(&signed, header.timestamp, header.proposer, Mode::Import)?;
        if let Err(error) = compare_headers(header, &outcome.block.header) {
            self.revert_open_block();
            return Err(error);
        }
        self.open = Some(outcome.hash);
        Ok(outcome)
    }

    /// The hash of the open (executed, not committed) block, if any.
    pub fn open_block(&self) -> Option<B256> {
        self.open
    }

    /// Whether a block is open.
    pub fn has_open_block(&self) -> bool {
        self.open.is_some()
    }

    /// Undoes the open block.
    ///
    /// # Panics
    /// If no block is open.
    pub fn revert_block(&mut self) {
        assert!(self.open.take().is_some(), "no open block to revert");
        self.revert_open_block();
    }

    fn revert_open_block(&mut self) {
        self.state.revert_block();
        self.market.revert_block();
    }

    /// Makes the open block (whose outcome this is) the head, and moves the market's events of
    /// the block into the outcome.
    ///
    /// # Panics
    /// If `outcome` is not the open block.
    pub fn commit_block(&mut self, outcome: &mut BlockOutcome) {
        assert_eq!(self.open.take(), Some(outcome.hash), "committing a block that is not open");
        self.state.commit_block();
        self.market.commit_block();
        outcome.market_events = self.market.take_events();
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
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)),
            slot_num: 0,
        };
        let mut cfg = CfgEnv::new_with_spec(EVM_SPEC);
        cfg.chain_id = self.spec.chain_id;

        self.state.begin_block();
        self.market.begin_block(number);
        let span_max = self.market.params().system_job_txs_max as usize;
        let mut span: Option<SpanStart> = None;
        let mut pre_state_root = self.head.state_root;
        let mut pre_ledger_root = self.head.ledger_root;
        let mut gas_used: u64 = 0;
        let mut bytes_used: usize = 0;
        let mut included: Vec<TxEnvelope> = Vec::new();
        let mut sidecars: Vec<Sidecar> = Vec::new();
        let mut receipts: Vec<ReceiptEnvelope> = Vec::new();
        let mut records: Vec<TxRecord> = Vec::new();
        let mut rejected: Vec<Rejected> = Vec::new();
        let mut deferred: Vec<usize> = Vec::new();

        // Senders with a deferred tx (build mode): their later txs wait too, rather than being
        // refused for the nonce gap the deferral leaves.
        let mut deferred_senders: BTreeSet<Address> = BTreeSet::new();
        for (position, tx) in candidates.iter().enumerate() {
            if deferred_senders.contains(&tx.sender) {
                deferred.push(position);
                continue;
            }
            let fail = |reason: TxRejection| -> Result<(), ImportError> {
                match mode {
                    Mode::Build { .. } => Ok(()),
                    Mode::Import => Err(ImportError::InvalidTx { index: position, reason }),
                }
            };
            if let Err(reason) = self.check_against_state(tx, base_fee) {
                if let Err(error) = fail(reason.clone()) {
                    self.revert_open_block();
                    return Err(error);
                }
                rejected.push(Rejected { position, hash: tx.hash, reason });
                continue;
            }
            if gas_used + tx.envelope.gas_limit() > self.spec.gas_limit {
                if matches!(mode, Mode::Import) {
                    self.revert_open_block();
                    return Err(ImportError::GasLimitExceeded);
                }
                deferred.push(position);
                deferred_senders.insert(tx.sender);
                continue;
            }
            if let Mode::Build { user_gas_max } = mode
                && tx.envelope.to() != Some(MARKET_ADDRESS)
                && gas_used + tx.envelope.gas_limit() > user_gas_max
            {
                deferred.push(position);
                deferred_senders.insert(tx.sender);
                continue;
            }
            let tx_bytes = tx.envelope.encode_2718_len() + tx.sidecar.as_ref().map_or(0, |sidecar| sidecar.len());
            if bytes_used + tx_bytes > BLOCK_BYTES_MAX {
                if matches!(mode, Mode::Import) {
                    self.revert_open_block();
                    return Err(ImportError::BytesExceeded);
                }
                deferred.push(position);
                deferred_senders.insert(tx.sender);
                continue;
            }
            let to = tx.envelope.to();
            let kind = match to {
                Some(MARKET_ADDRESS) => TxKind::System,
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
            let mut output = match result {
                Ok(output) => output,
                Err(error) => {
                    let reason = TxRejection::Evm(error.to_string());
                    if let Err(error) = fail(reason.clone()) {
                        self.revert_open_block();
                        return Err(error);
                    }
                    rejected.push(Rejected { position, hash: tx.hash, reason });
                    continue;
                }
            };
            // A full ledger refuses the tx before anything of it is applied. The market address is
            // left out of the count: the settlement below returns its balance to what it was, so
            // it never takes a leaf.
            let needed =
                self.state.ledger_leaves_needed(output.state.iter().filter(|(address, _)| **address != MARKET_ADDRESS));
            let ledger = self.state.ledger();
            if needed > ledger.room() {
                let reason = TxRejection::LedgerFull { needed, room: ledger.room(), capacity: ledger.capacity() };
                if let Err(error) = fail(reason.clone()) {
                    self.revert_open_block();
                    return Err(error);
                }
                rejected.push(Rejected { position, hash: tx.hash, reason });
                continue;
            }
            let mut success = output.result.is_success();
            if kind == TxKind::System && success {
                let value = tx.envelope.value();
                let call = self.market.apply_call_with_sidecar(
                    tx.sender,
                    tx.envelope.input(),
                    value,
                    tx.sidecar.as_ref().map(|b| b.as_ref()),
                    self.verifier.as_ref(),
                );
                success = call.result.is_ok();
                // Settle value in the diff before it is committed (see the module documentation).
                if let Some(market) = output.state.get_mut(&MARKET_ADDRESS) {
                    market.info.balance -= value;
                }
                if let Some(sender) = output.state.get_mut(&tx.sender) {
                    sender.info.balance += call.credit_sender;
                }
            }
            self.state.take_ledger_changes();
            if let Err(error) = self.state.apply_evm_state(output.state) {
                self.revert_open_block();
                return Err(error.into());
            }
            let tx_gas = output.result.tx_gas_used();
            // At most the block's gas limit: each tx's limit was checked against what remains.
            gas_used += tx_gas;
            // At most BLOCK_BYTES_MAX: checked against what remains above.
            bytes_used += tx_bytes;
            // Cannot overflow: the balance check bounds gas_limit × max_fee_per_gas by a balance,
            // and balances stay below 2^127 (bounded supply); the price is at most max_fee.
            let fee_wei = u128::from(tx_gas) * tx.envelope.effective_gas_price(Some(base_fee));
            let changes = self.state.take_ledger_changes();
            let commitment = digest_to_b256(commitment_of(tx, kind, fee_wei, &changes));
            let ledger_writes = changes.into_iter().filter_map(|c| c.write).collect();
            // Roots at job boundaries only: after every user tx, and for market txs at the end of
            // each span of `system_job_txs_max` (the block's last, partial span is closed below).
            let in_span = kind == TxKind::System;
            let here = SpanStart { record: records.len(), state: pre_state_root, ledger: pre_ledger_root };
            let start = if in_span { *span.get_or_insert(here) } else { here };
            let span_full = in_span && records.len() + 1 - start.record == span_max;
            let post = (!in_span || span_full).then(|| (self.state.state_root(), self.state.ledger_root()));
            let (post_state_root, post_ledger_root) = post.unwrap_or_default();
            let (record_pre_state, record_pre_ledger) = (start.state, start.ledger);
            // Every tx uses at least 21,000 gas, so a block holds gas_limit / 21,000 of them; 2^32
            // txs would need a genesis gas limit above 9 × 10^13 (Ethereum's is 3.6 × 10^7). The
            // gas limit is the genesis's, never a peer's.
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
                pre_state_root: record_pre_state,
                post_state_root,
                pre_ledger_root: record_pre_ledger,
                post_ledger_root,
                span_roots: in_span,
                commitment,
                ledger_writes,
            });
            receipts.push(receipt(tx.envelope.tx_type(), success, gas_used, output.result.into_logs()));
            if let Some(bytes) = &tx.sidecar {
                let index = u32::try_from(included.len()).expect("txs per block fit u32");
                sidecars.push(Sidecar { index, bytes: bytes.clone() });
            }
            included.push(tx.envelope.clone());
            if let Some(roots) = post {
                if in_span {
                    close_span(&mut records, start.record, roots);
                    span = None;
                }
                (pre_state_root, pre_ledger_root) = roots;
            }
        }

        // Close the last, partial span of market txs.
        if let Some(start) = span.take() {
            let roots = (self.state.state_root(), self.state.ledger_root());
            close_span(&mut records, start.record, roots);
            pre_state_root = roots.0;
            pre_ledger_root = roots.1;
        }

        #[cfg(feature = "test-bugs")]
        if self.test_bugs.contains(&zkcrowd_primitives::TestBug::MintOnCommit) {
            // One ZKPoW from nowhere at the end of the block, on every validator alike.
            let address = Address::repeat_byte(0xb6);
            let change = crate::state::AccountChange {
                address,
                nonce: self.state.nonce(&address),
                balance: self.state.balance(&address) + U256::from(zkcrowd_primitives::WEI_PER_ZKPOW),
                code_hash: revm::primitives::KECCAK_EMPTY,
                code: None,
                storage: Vec::new(),
                created: false,
                destroyed: false,
            };
            if let Err(error) = self.state.apply_changes(vec![change]) {
                self.revert_open_block();
                return Err(error.into());
            }
            let _ = self.state.take_ledger_changes();
            pre_state_root = self.state.state_root();
            pre_ledger_root = self.state.ledger_root();
        }

        // The block's jobs: user txs one by one, then the system span in chunks.
        let fees_wei: u128 = records.iter().map(|r| r.fee_wei).sum();
        let chunk_max = self.market.params().system_job_txs_max;
        let mut jobs: Vec<NewJob> = Vec::new();
        let mut system: Option<NewJob> = None;
        for record in &records {
            let pre = b256_to_digest(record.pre_ledger_root).expect("ledger roots are canonical");
            let post = b256_to_digest(record.post_ledger_root).expect("ledger roots are canonical");
            let commitment = b256_to_digest(record.commitment).expect("commitments are canonical");
            let has_circuit = binds_effect(commitment, record.hash);
            if record.kind == TxKind::System {
                let full =
                    matches!(&system, Some(NewJob { kind: JobKind::System { txs, .. }, .. }) if *txs == chunk_max);
                if full {
                    jobs.extend(system.take());
                }
                let span = system.get_or_insert(NewJob {
                    kind: JobKind::System { block: number, txs: 0 },
                    pre_root: pre,
                    post_root: pre,
                    commitment,
                    has_circuit: true,
                    gas_used: 0,
                });
                // The span circuit proves a span only if it proves every call in it.
                span.has_circuit &= has_circuit;
                let JobKind::System { txs, .. } = &mut span.kind else { unreachable!() };
                if *txs > 0 {
                    span.commitment = combine_commitments(span.commitment, commitment);
                }
                *txs += 1;
                span.post_root = post;
            } else {
                debug_assert!(
                    system.is_none() && jobs.iter().all(|j| !matches!(j.kind, JobKind::System { .. })),
                    "user txs precede system txs"
                );
                jobs.push(NewJob {
                    kind: JobKind::Tx { block: number, index: record.index },
                    pre_root: pre,
                    post_root: post,
                    commitment,
                    // The transfer circuit proves transfers only (a contract call's commitment
                    // never binds its effect anyway).
                    has_circuit: has_circuit && record.kind == TxKind::Transfer,
                    gas_used: record.gas_used,
                });
            }
        }
        jobs.extend(system);
        let market_root = self.market.end_block(self.head_hash, fees_wei, &jobs);

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
            market_root,
            prev_randao,
        };
        let hash = header.hash();
        Ok(BlockOutcome {
            block: Block { header, transactions: included, sidecars },
            hash,
            receipts,
            txs: records,
            rejected,
            deferred,
            market_events: Vec::new(),
        })
    }
}

/// Where the current span of market transactions started: its first record and the roots before it.
#[derive(Debug, Clone, Copy)]
struct SpanStart {
    record: usize,
    state: B256,
    ledger: B256,
}

/// The commitment a tx's job binds, from what the tx did to the ledger (see
/// [`zkcrowd_market::statement`]): a transfer of value between two accounts that wrote exactly those
/// two leaves binds its effect ([`transfer_commitment`]); a market call that wrote exactly its
/// sender's leaf, incrementing the nonce, binds the net debit or credit ([`call_commitment`]);
/// anything else (contract execution, self-transfers, transfers to the burn address) binds its hash
/// alone ([`tx_commitment`]) and is proven only by modeled proofs.
fn commitment_of(tx: &SignedTx, kind: TxKind, fee_wei: u128, changes: &[LedgerChange]) -> Digest {
    let (sender, nonce) = (tx.sender, tx.envelope.nonce());
    let value = u128::try_from(tx.envelope.value()).unwrap_or(u128::MAX);
    match (kind, changes) {
        (TxKind::Transfer, [a, b]) if value > 0 => {
            let receiver = tx.envelope.to().unwrap_or_default();
            let addresses = (a.after.address, b.after.address);
            let sender_leaf = if a.after.address == sender { a } else { b };
            let ordered = addresses == (sender.min(receiver), sender.max(receiver)) && sender != receiver;
            if ordered && sender_leaf.before.is_some_and(|before| before.nonce == nonce) {
                return transfer_commitment(tx.hash, sender, receiver, nonce, value, fee_wei);
            }
        }
        (TxKind::System, [change]) if change.after.address == sender => {
            if let Some(before) = change.before.filter(|b| b.nonce == nonce && change.after.nonce == nonce + 1) {
                let (debit, credit) = if change.after.balance <= before.balance {
                    (before.balance - change.after.balance, 0)
                } else {
                    (0, change.after.balance - before.balance)
                };
                return call_commitment(tx.hash, sender, nonce, debit, credit);
            }
        }
        _ => {}
    }
    tx_commitment(tx.hash)
}

/// Gives every record of a span (from `start`) the span's post roots.
fn close_span(records: &mut [TxRecord], start: usize, (state, ledger): (B256, B256)) {
    for record in &mut records[start..] {
        record.post_state_root = state;
        record.post_ledger_root = ledger;
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
        parent_hash,
        number,
        timestamp,
        proposer,
        gas_limit,
        gas_used,
        base_fee_per_gas,
        transactions_root,
        receipts_root,
        logs_bloom,
        state_root,
        ledger_root,
        market_root,
        prev_randao
    );
    Ok(())
}
