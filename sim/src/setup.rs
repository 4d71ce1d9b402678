//! From a scenario to the chain's genesis and the simulated identities.
//!
//! Development keys (`dev:N`) are split into ranges: users `0..users`, plugins from
//! [`PLUGIN_KEY_BASE`], validators from [`VALIDATOR_KEY_BASE`]. A storage contract is predeployed
//! at [`STORE_CONTRACT`] for the `contract_call` share of the load.

use alloy::primitives::{Address, Bytes, address, hex};
use zkcrowd_chain::{Genesis, GenesisAccount, GenesisValidator};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_primitives::{AccountRef, DevSigner, Zkpow, dev_signer};

use crate::scenario::Scenario;

/// First development key of plugins.
pub const PLUGIN_KEY_BASE: u64 = 1_000_000;
/// First development key of validators.
pub const VALIDATOR_KEY_BASE: u64 = 2_000_000;
/// The predeployed storage contract: `SSTORE(calldata[0..32], calldata[32..64])`.
pub const STORE_CONTRACT: Address = address!("0x00000000000000000000000000000000000c0de5");
/// Its runtime code.
pub const STORE_RUNTIME: [u8; 8] = hex!("6020356000355500");
/// Stake of each validator.
pub const VALIDATOR_STAKE_ZKPOW: u128 = 100_000;

/// The keys of a scenario's users and plugins, derived once (a derivation costs a scalar
/// multiplication; thousands of them add up).
#[derive(Debug, Clone)]
pub struct Identities {
    /// Users, `dev:0..users`.
    pub users: Vec<DevSigner>,
    /// Plugins, from `dev:PLUGIN_KEY_BASE`.
    pub plugins: Vec<DevSigner>,
}

impl Identities {
    /// The identities of `scenario`.
    pub fn of(scenario: &Scenario) -> Self {
        Self {
            users: (0..scenario.load.users).map(dev_signer).collect(),
            plugins: (0..scenario.plugins.population).map(|i| dev_signer(PLUGIN_KEY_BASE + i)).collect(),
        }
    }
}

/// The genesis of a scenario's chain.
pub fn genesis(scenario: &Scenario, identities: &Identities) -> Genesis {
    let mut accounts = vec![GenesisAccount {
        address: AccountRef::Address(STORE_CONTRACT),
        balance: Zkpow::ZERO,
        nonce: 1,
        code: Some(Bytes::from_static(&STORE_RUNTIME)),
    }];
    let funded = |signers: &[DevSigner], balance: Zkpow| -> Vec<GenesisAccount> {
        signers
            .iter()
            .map(|s| GenesisAccount { address: AccountRef::Address(s.address()), balance, nonce: 0, code: None })
            .collect()
    };
    accounts.extend(funded(&identities.users, scenario.load.balance));
    accounts.extend(funded(&identities.plugins, scenario.plugins.balance));
    Genesis {
        chain_id: scenario.chain.chain_id,
        timestamp: 0,
        gas_limit: scenario.chain.gas_limit,
        base_fee_per_gas: scenario.chain.base_fee,
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 256 * 1024,
        accounts,
        dev_accounts: None,
        validators: (0..u64::from(scenario.chain.validators))
            .map(|i| GenesisValidator {
                address: AccountRef::Address(dev_signer(VALIDATOR_KEY_BASE + i).address()),
                stake: Zkpow::from_zkpow(VALIDATOR_STAKE_ZKPOW),
            })
            .collect(),
        market: scenario.market.clone(),
    }
}

/// The validator set of a genesis (equal stake, in genesis order).
pub fn validator_set(genesis: &Genesis) -> ValidatorSet {
    let validators = genesis
        .validators
        .iter()
        .map(|v| {
            (v.address.address(), u64::try_from(v.stake.wei() / 1_000_000_000_000_000_000).expect("stake fits u64"))
        })
        .collect();
    ValidatorSet::new(validators).expect("a valid validator set")
}
