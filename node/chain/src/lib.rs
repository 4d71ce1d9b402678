//! The sequencer chain core: ordinary signed Ethereum transactions (alloy), executed by revm with
//! ZKPoW as the native coin, in blocks whose headers carry the Ethereum MPT state root and the
//! Poseidon ledger root; every committed tx records the roots before and after it.
//!
//! Entry point: [`Chain`] (`from_genesis`, `build_block` for a proposer, `import_block` for the
//! other validators). Nothing here reads a clock or OS randomness: time and order come from the
//! caller, so the simulator and a real node drive the same code.

mod block;
mod chain;
mod genesis;
mod state;
pub mod tx;

pub use block::{Block, BlockHeader, EXTRA_DATA_BYTES, Sidecar, TxKind, TxRecord, receipt};
pub use chain::{
    BLOCK_BYTES_MAX, BlockOutcome, CallError, CallOutcome, CallRequest, Chain, ChainSpec, EVM_SPEC, ImportError,
    Rejected, Totals,
};
pub use genesis::{
    ACCOUNTS_MAX, Allocation, BASE_FEE_WEI_MAX, CHAIN_ID_MAX, CODE_BYTES_MAX, DEV_FIRST_MAX, DevAccounts,
    GAS_LIMIT_MAX, GAS_LIMIT_MIN, Genesis, GenesisAccount, GenesisError, GenesisValidator, NONCE_MAX, SUPPLY_WEI_MAX,
    TIMESTAMP_MAX, TX_SIZE_BYTES_MAX, VALIDATORS_MAX,
};
pub use state::{AccountChange, BLOCK_HASH_HISTORY, ChainState, LedgerChange, StoredAccount};
pub use tx::{SIDECAR_BYTES_MAX, SenderCache, SignedTx, TxPacket, TxRejection, check_sidecar};
