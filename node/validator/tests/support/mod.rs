//! What the validator's integration tests share: a four-validator genesis, its validator set, a
//! transfer.

use alloy::consensus::TxEip1559;
use alloy::primitives::{Bytes, TxKind, U256};
use zkcrowd_chain::{DevAccounts, Genesis, GenesisValidator, TxPacket};
use zkcrowd_consensus::ValidatorSet;
use zkcrowd_primitives::{AccountRef, Zkpow, dev_address, dev_signer, sign_tx};

/// The test chain's id.
pub(crate) const CHAIN_ID: u64 = 4242;
/// Validators of the test chain: `dev:100` to `dev:103`, equal stake.
pub(crate) const VALIDATORS: u16 = 4;

/// The test genesis: four funded dev accounts (`dev:0` to `dev:3`) and the four validators.
pub(crate) fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: vec![],
        dev_accounts: Some(DevAccounts { count: 4, balance: Zkpow::from_zkpow(1_000), first: 0 }),
        validators: (0..u64::from(VALIDATORS))
            .map(|i| GenesisValidator { address: AccountRef::Dev(100 + i), stake: Zkpow::from_zkpow(1) })
            .collect(),
        market: Default::default(),
    }
}

/// The genesis's validator set.
pub(crate) fn validator_set() -> ValidatorSet {
    ValidatorSet::new((0..u64::from(VALIDATORS)).map(|i| (dev_address(100 + i), 1)).collect()).expect("four validators")
}

/// A transfer of 1,000 wei from `dev:from` to `dev:3`.
pub(crate) fn transfer(from: u64, nonce: u64) -> TxPacket {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(dev_address(3)),
        value: U256::from(1_000),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    sign_tx(&dev_signer(from), tx).into()
}
