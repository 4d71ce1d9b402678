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
use zkcrowd_primitives::yaml::{self, FieldPath, Invalid, Validate, check_at_most, check_between, check_len};
use zkcrowd_primitives::{AccountRef, FEE_BURN_ADDRESS, MARKET_ADDRESS, Zkpow};

/// Total supply must stay below this (2^127 wei) so that every balance fits the ledger's `u128`
/// limbs and signed market balances fit `i128`.
pub const SUPPLY_WEI_MAX: u128 = 1 << 127;

/// Largest chain id: EIP-2294's bound, `floor(2^64 / 2) − 36`, so that a legacy signature's
/// `v = 2 × chain_id + 36` fits 64 bits.
pub const CHAIN_ID_MAX: u64 = u64::MAX / 2 - 36;

/// Latest genesis timestamp: 9999-12-31T23:59:59Z. Block timestamps add block times to it, far
/// from `u64` overflow and within every date library.
pub const TIMESTAMP_MAX: u64 = 253_402_300_799;

/// Smallest block gas limit: one transfer.
pub const GAS_LIMIT_MIN: u64 = 21_000;

/// Largest block gas limit: 300,000,000, ten times the default 30,000,000. revm executes ~7,000
/// transfers per second here (docs/benchmarks.md), so a full block at the maximum (~14,000
/// transfers) costs every validator ~2 s of wall time.
pub const GAS_LIMIT_MAX: u64 = 300_000_000;

/// Largest base fee, in wei: the header and revm hold it as a `u64`.
pub const BASE_FEE_WEI_MAX: u128 = u64::MAX as u128;

pub use zkcrowd_primitives::tx::TX_SIZE_BYTES_MAX;

/// Largest predeployed contract: EIP-170's 24,576 bytes, the most any contract may deploy.
pub const CODE_BYTES_MAX: usize = 24_576;

/// Largest account nonce: EIP-2681 (`2^64 − 1` can never be incremented).
pub const NONCE_MAX: u64 = u64::MAX - 1;

/// Most development accounts (and most explicit accounts): each is a key derivation (a scalar
/// multiplication, ~50 µs) and an insertion into the state trie and the ledger of every validator,
/// so 100,000 cost seconds at start-up; the ledger tree (depth 24) holds 16.7 million.
pub const ACCOUNTS_MAX: u64 = 100_000;

/// Largest index of the first development account: `first + count` stays far from overflow.
pub const DEV_FIRST_MAX: u64 = 1 << 62;

/// Most validators. Every validator re-executes every block and keeps its own state, so a run's
/// cost grows linearly with them (the baseline has 4), and consensus votes quadratically
/// (64² = 4,096 per step).
pub const VALIDATORS_MAX: usize = 64;

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
    /// The file could not be used; the message names file, line and column.
    #[error("{0}")]
    Yaml(String),
    /// A value breaks a rule of a valid genesis (its path names it).
    #[error("invalid genesis: {0}")]
    Field(Invalid),
    /// The chain could not be built from it.
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
    /// Reads and validates a genesis file; every error names file, line and column.
    pub fn from_file(path: &Path) -> Result<Self, GenesisError> {
        yaml::load(path).map_err(|error| GenesisError::Yaml(error.to_string()))
    }

    /// Checks the rules a usable genesis follows.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.check().map_err(GenesisError::Field)
    }

    /// Checks the rules and the documented maxima, naming the offending value's path.
    pub fn check(&self) -> Result<(), Invalid> {
        let root = FieldPath::root();
        check_between(&root.key("chain_id"), self.chain_id, 1, CHAIN_ID_MAX)?;
        check_at_most(&root.key("timestamp"), self.timestamp, TIMESTAMP_MAX)?;
        check_between(&root.key("gas_limit"), self.gas_limit, GAS_LIMIT_MIN, GAS_LIMIT_MAX)?;
        let base_fee_max = Zkpow::from_wei(BASE_FEE_WEI_MAX);
        check_at_most(&root.key("base_fee_per_gas"), self.base_fee_per_gas, base_fee_max)?;
        if let Some(min) = self.min_base_fee_per_gas {
            check_at_most(&root.key("min_base_fee_per_gas"), min, base_fee_max)?;
        }
        check_between(&root.key("max_tx_size_bytes"), self.max_tx_size_bytes, 1, TX_SIZE_BYTES_MAX)?;
        check_len(&root.key("accounts"), self.accounts.len(), ACCOUNTS_MAX as usize)?;
        for (i, account) in self.accounts.iter().enumerate() {
            let path = root.key("accounts").index(i);
            check_at_most(&path.key("nonce"), account.nonce, NONCE_MAX)?;
            if let Some(code) = account.code.as_ref().filter(|code| code.len() > CODE_BYTES_MAX) {
                return Err(Invalid::rule(
                    path.key("code"),
                    format!("{} bytes of code", code.len()),
                    format!("at most {CODE_BYTES_MAX} bytes (EIP-170)"),
                ));
            }
        }
        if let Some(dev) = &self.dev_accounts {
            check_at_most(&root.key("dev_accounts").key("count"), dev.count, ACCOUNTS_MAX)?;
            check_at_most(&root.key("dev_accounts").key("first"), dev.first, DEV_FIRST_MAX)?;
        }
        if self.validators.is_empty() {
            return Err(Invalid::rule(root.key("validators"), "no validators", "at least one validator"));
        }
        check_len(&root.key("validators"), self.validators.len(), VALIDATORS_MAX)?;
        let mut seen = BTreeSet::new();
        for (i, validator) in self.validators.iter().enumerate() {
            let path = root.key("validators").index(i);
            if !seen.insert(validator.address.address()) {
                return Err(Invalid::rule(
                    path.key("address"),
                    format!("validator {} is listed twice", validator.address),
                    "each validator once",
                ));
            }
            if validator.stake == Zkpow::ZERO {
                return Err(Invalid::rule(
                    path.key("stake"),
                    format!("validator {} has no stake", validator.address),
                    "a positive stake",
                ));
            }
        }
        // Every funded account with the path that funds it: explicit accounts, then the dev range.
        let dev_path = root.key("dev_accounts");
        let funded = self.allocations().into_iter().enumerate().map(|(i, allocation)| {
            let path = if i < self.accounts.len() { root.key("accounts").index(i) } else { dev_path.clone() };
            (path, allocation)
        });
        let mut supply: u128 = 0;
        let mut seen = BTreeSet::new();
        for (path, allocation) in funded {
            if allocation.address == FEE_BURN_ADDRESS || allocation.address == MARKET_ADDRESS {
                return Err(Invalid::rule(
                    path.key("address"),
                    format!("{} is a reserved system address", allocation.address),
                    "an ordinary account",
                ));
            }
            if !seen.insert(allocation.address) {
                return Err(Invalid::rule(
                    path.key("address"),
                    format!("account {} is funded twice", allocation.address),
                    "each account once",
                ));
            }
            supply = supply.saturating_add(allocation.balance);
            if supply >= SUPPLY_WEI_MAX {
                return Err(supply_error(path.key("balance")));
            }
        }
        for (i, validator) in self.validators.iter().enumerate() {
            supply = supply.saturating_add(validator.stake.wei());
            if supply >= SUPPLY_WEI_MAX {
                return Err(supply_error(root.key("validators").index(i).key("stake")));
            }
        }
        self.market.check().map_err(|e| e.within(&root.key("market")))
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

impl Validate for Genesis {
    fn validate(&self) -> Result<(), Invalid> {
        self.check()
    }
}

fn supply_error(path: FieldPath) -> Invalid {
    Invalid::rule(path, "the total supply reaches 2^127 wei here", "balances and stakes that sum below 2^127 wei")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Genesis, String> {
        yaml::load_str::<Genesis>(Path::new("genesis.yaml"), text).map_err(|e| e.to_string())
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

        let error = parse("chain_id: 7\nvalidators: []\n").unwrap_err();
        assert!(error.contains("at least one validator"), "{error}");
        let error = parse("chain_id: 7\nvalidators: [ { address: dev:0, stake: 1 ZKPOW } ]\nextra: 1\n").unwrap_err();
        assert!(error.starts_with("genesis.yaml:3:1"), "{error}");
        let error = parse(
            "chain_id: 7\naccounts: [ { address: dev:1, balance: 1 ZKPOW } ]\n\
             dev_accounts: { count: 3, balance: 1 ZKPOW }\n\
             validators: [ { address: dev:0, stake: 1 ZKPOW } ]\n",
        )
        .unwrap_err();
        assert!(error.contains("funded twice"), "{error}");
    }

    /// Every bound and cross-field rule of a genesis gives one line with the line and column of the
    /// offending value: absurd numbers, a huge dev range, no validators, a duplicate validator, a
    /// reserved address, supply overflow, a market rule.
    #[test]
    fn errors_are_located() {
        let validators = "validators: [ { address: dev:0, stake: 1 ZKPOW } ]\n";
        let cases = [
            (format!("chain_id: 0\n{validators}"), "genesis.yaml:1:11:", "chain_id: 0 is below the minimum"),
            (format!("chain_id: 18446744073709551615\n{validators}"), "genesis.yaml:1:11:", "chain_id"),
            (format!("chain_id: 7\ntimestamp: 18446744073709551615\n{validators}"), "genesis.yaml:2:12:", "timestamp"),
            (format!("chain_id: 7\ngas_limit: 18446744073709551615\n{validators}"), "genesis.yaml:2:12:", "gas_limit"),
            (format!("chain_id: 7\nbase_fee_per_gas: 100 ZKPOW\n{validators}"), "genesis.yaml:2:19:", "base_fee_per_gas"),
            (format!("chain_id: 7\nmax_tx_size_bytes: 0\n{validators}"), "genesis.yaml:2:20:", "max_tx_size_bytes"),
            (
                format!("chain_id: 7\ndev_accounts: {{ count: 4000000000, balance: 1 ZKPOW }}\n{validators}"),
                "genesis.yaml:2:24:",
                "dev_accounts.count: 4000000000 is above the maximum; expected at most 100000",
            ),
            (
                format!("chain_id: 7\ndev_accounts: {{ count: 1, balance: 1 ZKPOW, first: 18446744073709551615 }}\n{validators}"),
                "genesis.yaml:2:",
                "dev_accounts.first",
            ),
            ("chain_id: 7\nvalidators: []\n".into(), "genesis.yaml:2:13:", "validators: no validators"),
            (
                "chain_id: 7\nvalidators:\n  - { address: dev:0, stake: 1 ZKPOW }\n  - { address: dev:0, stake: 1 ZKPOW }\n".into(),
                "genesis.yaml:4:16:",
                "validators[1].address",
            ),
            (
                format!("chain_id: 7\naccounts: [ {{ address: \"0x000000000000000000000000000000000000fEe0\", balance: 1 wei }} ]\n{validators}"),
                "genesis.yaml:2:24:",
                "reserved",
            ),
            (
                format!("chain_id: 7\naccounts:\n  - {{ address: dev:5, balance: 170141183460469231731 ZKPOW }}\n  - {{ address: dev:6, balance: 1 ZKPOW }}\n{validators}"),
                "genesis.yaml:4:",
                "2^127",
            ),
            (
                format!("chain_id: 7\n{validators}market: {{ heartbeat_window_blocks: 10, proof_deadline_blocks: 20 }}\n"),
                "genesis.yaml:3:36:",
                "market.heartbeat_window_blocks: 10 does not exceed proof_deadline_blocks (20)",
            ),
        ];
        for (text, place, expected) in &cases {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(place), "{place}: {error}");
            assert!(error.contains(expected), "{expected}: {error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }
}
