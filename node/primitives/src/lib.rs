//! Shared vocabulary of zkcrowd: ZKPoW amounts, reserved system addresses and the
//! deterministic development keys that genesis files, tests and the simulator fund and sign with.

mod account_ref;
mod amount;
mod keys;
#[cfg(feature = "test-bugs")]
mod test_bugs;
pub mod tx;
pub mod yaml;
#[cfg(feature = "test-bugs")]
pub use test_bugs::TestBug;

pub use account_ref::{AccountRef, AccountRefError};
pub use amount::{AMOUNT_FORM, AmountError, SignedZkpow, WEI_PER_GWEI, WEI_PER_ZKPOW, Zkpow};
pub use keys::{DevSigner, dev_address, dev_signer, sign_tx};

use alloy::primitives::{Address, address};

/// Where transaction fees go: the block beneficiary of every block. No key controls it, so what it
/// holds is burned. The ledger root leaves it out (its balance is a burn counter, not an account
/// anyone can move), while the Ethereum state root includes it like any other account.
pub const FEE_BURN_ADDRESS: Address = address!("0x000000000000000000000000000000000000fEe0");

/// The proving market's system address: plugins register, heartbeat, go inactive, withdraw,
/// repay and submit proofs by sending ordinary signed transactions here, ABI-encoded against the
/// `IZkcrowdMarket` interface. No code lives at it; the chain hands such calls to the market.
pub const MARKET_ADDRESS: Address = address!("0x0000000000000000000000000000000000005a4b");

/// Block height.
pub type BlockNumber = u64;
