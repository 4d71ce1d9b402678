//! From a scenario to the chain's genesis and the simulated identities.
//!
//! Development keys (`dev:N`) are split into disjoint ranges: users `0..users`, plugins from
//! [`PLUGIN_KEY_BASE`], validators from [`VALIDATOR_KEY_BASE`]. The ranges cannot meet whatever
//! the counts a scenario may ask for: [`USERS_MAX`], [`PLUGINS_MAX`] and [`VALIDATORS_MAX`] fit
//! below the next range (checked at compile time). A storage contract is predeployed at
//! [`STORE_CONTRACT`] for the `contract_call` share of the load, and a gas burner at
//! [`BURN_CONTRACT`] for the `heavy_call` share (only when the mix has heavy calls).

use alloy::primitives::{Address, Bytes, address, hex};
use zkcrowd_chain::{Genesis, GenesisAccount, GenesisValidator, VALIDATORS_MAX};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_primitives::{AccountRef, DevSigner, Zkpow, dev_signer};

use zkcrowd_market::{Factor, MarketParams, RealProofPolicy};

use crate::scenario::limits::{PLUGINS_MAX, USERS_MAX};
use crate::scenario::{RealProofs, Scenario};

/// First development key of plugins.
pub const PLUGIN_KEY_BASE: u64 = 1_000_000;
/// First development key of validators.
pub const VALIDATOR_KEY_BASE: u64 = 2_000_000;

// The key ranges are disjoint at the maxima: users end before plugins start, plugins before
// validators.
const _: () = assert!(USERS_MAX <= PLUGIN_KEY_BASE);
const _: () = assert!(PLUGIN_KEY_BASE + PLUGINS_MAX <= VALIDATOR_KEY_BASE);
const _: () = assert!(VALIDATOR_KEY_BASE.checked_add(VALIDATORS_MAX as u64).is_some());

/// The predeployed storage contract: `SSTORE(calldata[0..32], calldata[32..64])`.
pub const STORE_CONTRACT: Address = address!("0x00000000000000000000000000000000000c0de5");
/// Its runtime code.
pub const STORE_RUNTIME: [u8; 8] = hex!("6020356000355500");
/// The predeployed gas burner for heavy calls: loops until less than 5,000 gas is left, so a call
/// uses (nearly) its whole gas limit: `JUMPDEST PUSH2 5000 GAS GT PUSH1 0 JUMPI STOP`.
pub const BURN_CONTRACT: Address = address!("0x00000000000000000000000000000000000c0de6");
/// Its runtime code.
pub const BURN_RUNTIME: [u8; 10] = hex!("5b6113885a1160005700");
/// Stake of each validator.
pub const VALIDATOR_STAKE_ZKPOW: u128 = 100_000;

/// The development key index of user `index` (below [`USERS_MAX`]).
pub fn user_key(index: u64) -> u64 {
    assert!(index < USERS_MAX, "user {index} beyond the validated maximum");
    index
}

/// The development key index of plugin `index` (below [`PLUGINS_MAX`]).
pub fn plugin_key(index: u64) -> u64 {
    assert!(index < PLUGINS_MAX, "plugin {index} beyond the validated maximum");
    PLUGIN_KEY_BASE + index
}

/// The development key index of validator `index` (below [`VALIDATORS_MAX`]).
pub fn validator_key(index: u64) -> u64 {
    assert!(index < VALIDATORS_MAX as u64, "validator {index} beyond the validated maximum");
    VALIDATOR_KEY_BASE + index
}

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
    /// The identities of a validated `scenario` (its counts are within the maxima).
    pub fn of(scenario: &Scenario) -> Self {
        Self {
            users: (0..scenario.load.users).map(|i| dev_signer(user_key(i))).collect(),
            plugins: (0..scenario.plugins.population).map(|i| dev_signer(plugin_key(i))).collect(),
        }
    }
}

/// The genesis of a scenario's chain.
pub fn genesis(scenario: &Scenario, identities: &Identities, seed: u64) -> Genesis {
    let mut accounts = vec![GenesisAccount {
        address: AccountRef::Address(STORE_CONTRACT),
        balance: Zkpow::ZERO,
        nonce: 1,
        code: Some(Bytes::from_static(&STORE_RUNTIME)),
    }];
    if scenario.load.mix.heavy_call > 0.0 {
        accounts.push(GenesisAccount {
            address: AccountRef::Address(BURN_CONTRACT),
            balance: Zkpow::ZERO,
            nonce: 1,
            code: Some(Bytes::from_static(&BURN_RUNTIME)),
        });
    }
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
                address: AccountRef::Address(dev_signer(validator_key(i)).address()),
                stake: Zkpow::from_zkpow(VALIDATOR_STAKE_ZKPOW),
            })
            .collect(),
        market: MarketParams { real_proofs: real_proof_policy(scenario.proofs.real, seed), ..scenario.market.clone() },
    }
}

/// The chain's rule for which jobs need real proofs, from the scenario's `proofs.real`: the chain
/// enforces it (a modeled record for such a job is refused) and the plugins follow it, so both
/// sides agree. A sample is salted with the run's seed.
pub fn real_proof_policy(real: Option<RealProofs>, seed: u64) -> RealProofPolicy {
    match real {
        None => RealProofPolicy::None,
        Some(RealProofs::All) => RealProofPolicy::All,
        Some(RealProofs::Sampled { sample_rate }) => {
            // Validated to lie in [0, 1]: parts per million, rounded once here.
            let ppm = (sample_rate * 1e6).round() as u64;
            RealProofPolicy::Sampled { sample_rate: Factor::from_ppm(ppm), salt: seed }
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Users, plugins and validators never share a key at the largest counts a scenario may ask
    /// for: the index ranges at the maxima are disjoint, and the keys at the edges of each range
    /// (where two ranges would first meet) are distinct addresses.
    #[test]
    fn key_ranges_are_disjoint_at_the_maxima() {
        let validators = VALIDATORS_MAX as u64;
        let users = user_key(0)..=user_key(USERS_MAX - 1);
        let plugins = plugin_key(0)..=plugin_key(PLUGINS_MAX - 1);
        let validator_keys = validator_key(0)..=validator_key(validators - 1);
        assert!(users.end() < plugins.start(), "users {users:?} meet plugins {plugins:?}");
        assert!(plugins.end() < validator_keys.start(), "plugins {plugins:?} meet validators {validator_keys:?}");
        let edges = [
            user_key(0),
            user_key(USERS_MAX - 1),
            plugin_key(0),
            plugin_key(PLUGINS_MAX - 1),
            validator_key(0),
            validator_key(validators - 1),
        ];
        let addresses: BTreeSet<Address> = edges.iter().map(|k| dev_signer(*k).address()).collect();
        assert_eq!(addresses.len(), edges.len());
        // Beyond the maxima the functions refuse rather than wrap into another range.
        assert!(std::panic::catch_unwind(|| user_key(USERS_MAX)).is_err());
        assert!(std::panic::catch_unwind(|| plugin_key(PLUGINS_MAX)).is_err());
        assert!(std::panic::catch_unwind(|| validator_key(validators)).is_err());
    }
}
