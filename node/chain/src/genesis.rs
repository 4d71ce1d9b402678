//! Genesis: the chain's parameters, funded accounts and validator set, from YAML.
//!
//! ```yaml
//! chain_id: 7777
//! gas_limit: 30000000
//! base_fee_per_gas: 1 gwei
//! dev_accounts: { count: 100, balance: 1000 ZKPOW }   # dev:0 … dev:99
//! accounts:
//!   - { address: "0x00000000000000000000000000000000000000aa", balance: 5 ZKPOW }
//! validators:
//!   - { address: dev:0, stake: 100000 ZKPOW }
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use alloy::primitives::{Address, Bytes};
use serde::{Deserialize, Serialize};
use zkcrowd_market::MarketParams;
use zkcrowd_primitives::{AccountRef, FEE_BURN_ADDRESS, MARKET_ADDRESS, Zkpow, yaml};

/// Total supply must stay below this (2^127 wei) so that every balance fits the ledger's `u128`
/// limbs and signed market balances fit `i128`.
pub const SUPPLY_WEI_MAX: u128 = 1 << 127;

/// The genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id; every tx must be signed for it.
    pub chain_id: u64,
    /// Timestamp of block 0, in seconds.
    #[serde(default)]
    pub timestamp: u64,
    /// Gas limit of every block.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// Base fee of block 1 (EIP-1559 adjusts it afterwards).
    #[serde(default = "default_base_fee")]
    pub base_fee_per_gas: Zkpow,
    /// Floor under the EIP-1559 base fee, so gas never becomes free (defaults to the initial fee).
    #[serde(default)]
    pub min_base_fee_per_gas: Option<Zkpow>,
    /// Largest raw transaction accepted, in bytes.
    #[serde(default = "default_max_tx_size_bytes")]
    pub max_tx_size_bytes: usize,
    /// Explicitly funded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Development accounts `dev:first` … `dev:first+count-1`, each funded with `balance`.
    #[serde(default)]
    pub dev_accounts: Option<DevAccounts>,
    /// The validator set with stake (locked ZKPoW, not part of any balance).
    pub validators: Vec<GenesisValidator>,
    /// The proving market's parameters.
    #[serde(default)]
    pub market: MarketParams,
}

/// One funded account, optionally with code (a predeployed contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account.
    pub address: AccountRef,
    /// Its ZKPoW balance.
    pub balance: Zkpow,
    /// Its nonce.
    #[serde(default)]
    pub nonce: u64,
    /// Runtime bytecode, for a predeployed contract.
    #[serde(default)]
    pub code: Option<Bytes>,
}

/// A range of funded development accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevAccounts {
    /// How many.
    pub count: u64,
    /// Balance of each.
    pub balance: Zkpow,
    /// Index of the first.
    #[serde(default)]
    pub first: u64,
}

/// A validator and its stake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The validator's address (also its L1 submission agent identity).
    pub address: AccountRef,
    /// Staked ZKPoW.
    pub stake: Zkpow,
}

fn default_gas_limit() -> u64 {
    30_000_000
}
fn default_base_fee() -> Zkpow {
    Zkpow::from_wei(1_000_000_000)
}
fn default_max_tx_size_bytes() -> usize {
    // geth's txpool limit; real proofs submitted as calldata may need a larger value.
    128 * 1024
}

/// A genesis that parsed but does not describe a usable chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The YAML did not parse; the message names file, line and column.
    #[error("{0}")]
    Yaml(String),
    /// A rule of a valid genesis was broken.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

/// One account of the resolved genesis allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Address.
    pub address: Address,
    /// Balance in wei.
    pub balance: u128,
    /// Nonce.
    pub nonce: u64,
    /// Runtime code.
    pub code: Option<Bytes>,
}

impl Genesis {
    /// Reads a genesis file.
    pub fn from_file(path: &Path) -> Result<Self, GenesisError> {
        let genesis: Self = yaml::from_file(path).map_err(|error| GenesisError::Yaml(error.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks the rules a usable genesis follows (named in each error).
    pub fn validate(&self) -> Result<(), GenesisError> {
        let invalid = |message: String| Err(GenesisError::Invalid(message));
        if self.chain_id == 0 {
            return invalid("chain_id must be positive (EIP-155)".into());
        }
        if self.gas_limit < 21_000 {
            return invalid(format!("gas_limit {} is below one transfer (21000)", self.gas_limit));
        }
        if self.base_fee_per_gas.wei() > u128::from(u64::MAX) {
            return invalid("base_fee_per_gas must fit in u64 wei".into());
        }
        if self.max_tx_size_bytes == 0 {
            return invalid("max_tx_size_bytes must be positive".into());
        }
        if self.validators.is_empty() {
            return invalid("at least one validator is required".into());
        }
        let mut seen = BTreeSet::new();
        for validator in &self.validators {
            if !seen.insert(validator.address.address()) {
                return invalid(format!("validator {} is listed twice", validator.address));
            }
            if validator.stake == Zkpow::ZERO {
                return invalid(format!("validator {} has no stake", validator.address));
            }
        }
        let mut supply: u128 = 0;
        let mut seen = BTreeSet::new();
        for allocation in self.allocations() {
            if allocation.address == FEE_BURN_ADDRESS || allocation.address == MARKET_ADDRESS {
                return invalid(format!("{} is a reserved system address, not an account", allocation.address));
            }
            if !seen.insert(allocation.address) {
                return invalid(format!("account {} is funded twice", allocation.address));
            }
            supply = supply.saturating_add(allocation.balance);
        }
        for validator in &self.validators {
            supply = supply.saturating_add(validator.stake.wei());
        }
        if supply >= SUPPLY_WEI_MAX {
            return invalid(format!("total supply {supply} wei reaches 2^127 wei"));
        }
        self.market.validate().map_err(|e| GenesisError::Invalid(format!("market: {e}")))
    }

    /// Every funded account: explicit accounts first, then development accounts in index order.
    pub fn allocations(&self) -> Vec<Allocation> {
        let mut out: Vec<Allocation> = self
            .accounts
            .iter()
            .map(|a| Allocation {
                address: a.address.address(),
                balance: a.balance.wei(),
                nonce: a.nonce,
                code: a.code.clone(),
            })
            .collect();
        if let Some(dev) = self.dev_accounts {
            out.extend((dev.first..dev.first + dev.count).map(|i| Allocation {
                address: zkcrowd_primitives::dev_address(i),
                balance: dev.balance.wei(),
                nonce: 0,
                code: None,
            }));
        }
        out
    }

    /// Total supply at genesis: balances plus stake, in wei.
    pub fn supply_wei(&self) -> u128 {
        let balances: u128 = self.allocations().iter().map(|a| a.balance).sum();
        balances + self.validators.iter().map(|v| v.stake.wei()).sum::<u128>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis =
            yaml::from_str(Path::new("genesis.yaml"), text).map_err(|e| GenesisError::Yaml(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// A minimal genesis parses with defaults; each broken rule is named.
    #[test]
    fn parse_and_validate() {
        let genesis = parse(
            "chain_id: 7\ndev_accounts: { count: 3, balance: 10 ZKPOW }\n\
             validators: [ { address: dev:0, stake: 1 ZKPOW } ]\n",
        )
        .unwrap();
        assert_eq!(genesis.gas_limit, 30_000_000);
        assert_eq!(genesis.allocations().len(), 3);
        assert_eq!(genesis.supply_wei(), 31 * zkcrowd_primitives::WEI_PER_ZKPOW);

        let error = parse("chain_id: 7\nvalidators: []\n").unwrap_err().to_string();
        assert!(error.contains("at least one validator"), "{error}");
        let error = parse("chain_id: 7\nvalidators: [ { address: dev:0, stake: 1 ZKPOW } ]\nextra: 1\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("genesis.yaml:3:1"), "{error}");
        let error = parse(
            "chain_id: 7\naccounts: [ { address: dev:1, balance: 1 ZKPOW } ]\n\
             dev_accounts: { count: 3, balance: 1 ZKPOW }\n\
             validators: [ { address: dev:0, stake: 1 ZKPOW } ]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("funded twice"), "{error}");
    }
}
