//! The market ledger: every plugin's signed ZKPoW market balance. Rewards go in, penalties come
//! out, and a balance may go negative (the seed's design); withdrawals move a positive balance to the
//! plugin's native account and repayments move native ZKPoW in.

use std::collections::HashMap;

use alloy::primitives::Address;
use plonky2::field::types::Field;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use zkcrowd_primitives::SignedZkpow;

use crate::{Digest, F, MerklePath, MerkleTree, TreeError, address_limbs, u128_limbs};

/// Depth of the market tree: 2^20 ≈ one million plugins.
pub const MARKET_TREE_DEPTH: usize = 20;

/// Signed market balances per plugin under one Poseidon root.
#[derive(Debug, Clone)]
pub struct MarketLedger {
    tree: MerkleTree,
    index_of: HashMap<Address, u64>,
    entries: Vec<(Address, SignedZkpow)>,
}

impl Default for MarketLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl MarketLedger {
    /// An empty market ledger.
    pub fn new() -> Self {
        Self { tree: MerkleTree::new(MARKET_TREE_DEPTH), index_of: HashMap::new(), entries: Vec::new() }
    }

    /// The leaf digest of a plugin's balance: `Poseidon(address limbs, sign, |balance| limbs)`.
    pub fn leaf_digest(plugin: Address, balance: SignedZkpow) -> Digest {
        let mut fields = [F::ZERO; 10];
        fields[..5].copy_from_slice(&address_limbs(plugin));
        fields[5] = if balance.is_negative() { F::ONE } else { F::ZERO };
        fields[6..].copy_from_slice(&u128_limbs(balance.wei().unsigned_abs()));
        PoseidonHash::hash_no_pad(&fields)
    }

    /// A plugin's balance (zero if it never had one).
    pub fn balance(&self, plugin: &Address) -> SignedZkpow {
        self.index_of.get(plugin).map_or(SignedZkpow::ZERO, |&i| self.entries[i as usize].1)
    }

    /// Sets a plugin's balance, allocating its leaf on first use.
    pub fn set(&mut self, plugin: Address, balance: SignedZkpow) -> Result<(), TreeError> {
        let digest = Self::leaf_digest(plugin, balance);
        match self.index_of.get(&plugin) {
            Some(&index) => {
                self.entries[index as usize].1 = balance;
                self.tree.set(index, digest);
            }
            None => {
                let index = self.tree.push(digest)?;
                self.index_of.insert(plugin, index);
                self.entries.push((plugin, balance));
            }
        }
        Ok(())
    }

    /// Adds `delta` (negative for a charge) to a plugin's balance.
    ///
    /// # Panics
    /// On `i128` overflow, which bounded supply rules out.
    pub fn credit(&mut self, plugin: Address, delta: SignedZkpow) -> Result<SignedZkpow, TreeError> {
        let balance = self.balance(&plugin).checked_add(delta).expect("market balance overflow");
        self.set(plugin, balance)?;
        Ok(balance)
    }

    /// Sum of all balances (signed).
    pub fn total(&self) -> SignedZkpow {
        self.entries.iter().fold(SignedZkpow::ZERO, |sum, (_, b)| {
            sum.checked_add(*b).expect("market total overflow")
        })
    }

    /// All (plugin, balance) pairs in leaf order.
    pub fn entries(&self) -> &[(Address, SignedZkpow)] {
        &self.entries
    }

    /// The market ledger root.
    pub fn root(&mut self) -> Digest {
        self.tree.root()
    }

    /// The authentication path of a plugin's leaf.
    pub fn path(&mut self, plugin: &Address) -> Option<MerklePath> {
        let index = *self.index_of.get(plugin)?;
        self.tree.path(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Balances go negative and back, the sign is committed, and the total is the signed sum.
    #[test]
    fn signed_balances() {
        let mut ledger = MarketLedger::new();
        let plugin = Address::repeat_byte(7);
        ledger.credit(plugin, SignedZkpow::from_zkpow(-5)).unwrap();
        let negative_root = ledger.root();
        ledger.set(plugin, SignedZkpow::from_zkpow(5)).unwrap();
        assert_ne!(ledger.root(), negative_root, "the sign is part of the leaf");
        ledger.credit(Address::repeat_byte(8), SignedZkpow::from_zkpow(-7)).unwrap();
        assert_eq!(ledger.total(), SignedZkpow::from_zkpow(-2));
        let path = ledger.path(&plugin).unwrap();
        assert_eq!(path.root_for(MarketLedger::leaf_digest(plugin, SignedZkpow::from_zkpow(5))), ledger.root());
    }
}
