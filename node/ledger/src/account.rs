//! The account ledger: (address, nonce, balance) for every account, under the header's ledger root.

#[allow(
    clippy::disallowed_types,
    reason = "looked up by address, never iterated: iteration order cannot reach state"
)]
use std::collections::HashMap;

use alloy::primitives::Address;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;

use crate::{Digest, F, MerklePath, MerkleTree, TreeError, address_limbs, u64_limbs, u128_limbs};

/// Depth of the account tree: 2^24 ≈ 16.7 million accounts, 24 Poseidon hashes per update. A
/// simulation has at most tens of thousands of accounts; the circuit's path length is this depth.
pub const ACCOUNT_TREE_DEPTH: usize = 24;

/// One account as the ledger sees it. Balances are `u128` wei; the chain keeps total supply below
/// 2^127 so no balance can exceed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountLeaf {
    /// Account address.
    pub address: Address,
    /// Transaction count.
    pub nonce: u64,
    /// ZKPoW balance in wei.
    pub balance: u128,
}

impl AccountLeaf {
    /// Number of field elements in [`Self::to_fields`].
    pub const FIELDS: usize = 11;

    /// The leaf preimage: 5 address limbs, 2 nonce limbs, 4 balance limbs (32-bit, big-endian).
    pub fn to_fields(&self) -> [F; Self::FIELDS] {
        let mut out = [F::default(); Self::FIELDS];
        out[..5].copy_from_slice(&address_limbs(self.address));
        out[5..7].copy_from_slice(&u64_limbs(self.nonce));
        out[7..].copy_from_slice(&u128_limbs(self.balance));
        out
    }

    /// `Poseidon(to_fields())`, the leaf digest.
    pub fn digest(&self) -> Digest {
        PoseidonHash::hash_no_pad(&self.to_fields())
    }
}

/// One leaf write with the evidence a circuit needs to prove it: under the root before the write,
/// slot `index` held `before` (`None`: the empty leaf, a new account), and `siblings` is its path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeafWrite {
    /// Leaf index.
    pub index: u64,
    /// The account before the write; `None` when the slot was empty (an allocation).
    pub before: Option<AccountLeaf>,
    /// The account after the write.
    pub after: AccountLeaf,
    /// Siblings from the leaf up, [`ACCOUNT_TREE_DEPTH`] of them, against the root before the write.
    #[serde(with = "crate::digest_serde::list")]
    pub siblings: Vec<Digest>,
}

impl LeafWrite {
    /// The root before the write.
    pub fn root_before(&self) -> Digest {
        let leaf = self.before.map_or(plonky2::hash::hash_types::HashOut::ZERO, |b| b.digest());
        MerklePath { index: self.index, siblings: self.siblings.clone() }.root_for(leaf)
    }

    /// The root after the write.
    pub fn root_after(&self) -> Digest {
        MerklePath { index: self.index, siblings: self.siblings.clone() }.root_for(self.after.digest())
    }
}

/// The account ledger: a [`MerkleTree`] of [`AccountLeaf`] digests, one leaf per address, indexed in
/// order of first appearance.
#[derive(Debug, Clone)]
pub struct AccountLedger {
    tree: MerkleTree,
    #[allow(
        clippy::disallowed_types,
        reason = "looked up by address, never iterated: iteration order cannot reach state"
    )]
    index_of: HashMap<Address, u64>,
    leaves: Vec<AccountLeaf>,
    /// Most accounts: the tree's `2^depth` unless lowered by [`Self::set_capacity`].
    capacity: u64,
}

impl Default for AccountLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl AccountLedger {
    /// An empty ledger of depth [`ACCOUNT_TREE_DEPTH`].
    #[allow(
        clippy::disallowed_types,
        reason = "looked up by address, never iterated: iteration order cannot reach state"
    )]
    pub fn new() -> Self {
        let tree = MerkleTree::new(ACCOUNT_TREE_DEPTH);
        let capacity = tree.capacity();
        Self { tree, index_of: HashMap::new(), leaves: Vec::new(), capacity }
    }

    /// Lowers the number of accounts the ledger takes below the tree's `2^depth` leaves (the
    /// depth, and so every root and path, stays the same). A full ledger refuses new accounts
    /// with [`TreeError::Full`]; tests use this to fill one cheaply.
    ///
    /// # Panics
    /// If `capacity` is above the tree's or below the accounts already held (a caller bug).
    pub fn set_capacity(&mut self, capacity: u64) {
        assert!(capacity <= self.tree.capacity(), "capacity {capacity} above the tree's {}", self.tree.capacity());
        assert!(capacity >= self.len(), "capacity {capacity} below the {} accounts held", self.len());
        self.capacity = capacity;
    }

    /// Most accounts the ledger takes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Accounts the ledger can still take.
    pub fn room(&self) -> u64 {
        self.capacity - self.len()
    }

    fn full(&self) -> TreeError {
        TreeError::Full { depth: self.tree.depth(), capacity: self.capacity }
    }

    /// Sets an account's nonce and balance, allocating its leaf if the address is new.
    /// Returns the leaf index.
    pub fn upsert(&mut self, leaf: AccountLeaf) -> Result<u64, TreeError> {
        match self.index_of.get(&leaf.address) {
            Some(&index) => {
                self.leaves[index as usize] = leaf;
                self.tree.set(index, leaf.digest());
                Ok(index)
            }
            None => {
                if self.room() == 0 {
                    return Err(self.full());
                }
                let index = self.tree.push(leaf.digest())?;
                self.index_of.insert(leaf.address, index);
                self.leaves.push(leaf);
                debug_assert_eq!(self.leaves.len() as u64, index + 1);
                Ok(index)
            }
        }
    }

    /// Like [`Self::upsert`], and returns the write as a circuit sees it: the leaf before and
    /// after, with its authentication path against the root before the write. Costs a root
    /// recomputation before the write, so the chain only records writes when asked to.
    pub fn upsert_recorded(&mut self, leaf: AccountLeaf) -> Result<LeafWrite, TreeError> {
        let (index, before) = match self.index_of.get(&leaf.address) {
            Some(&index) => (index, Some(self.leaves[index as usize])),
            None if self.room() == 0 => return Err(self.full()),
            None => (self.tree.len(), None),
        };
        let path = self.tree.slot_path(index).ok_or_else(|| self.full())?;
        let written = self.upsert(leaf)?;
        debug_assert_eq!(written, index);
        Ok(LeafWrite { index, before, after: leaf, siblings: path.siblings })
    }

    /// Drops accounts allocated at leaf index `len` and above (undoing a block's new accounts).
    pub fn truncate(&mut self, len: u64) {
        for leaf in self.leaves.drain(usize::try_from(len).expect("fits usize").min(self.leaves.len())..) {
            self.index_of.remove(&leaf.address);
        }
        self.tree.truncate(len);
    }

    /// The account at `address`, if it has a leaf.
    pub fn get(&self, address: &Address) -> Option<&AccountLeaf> {
        self.index_of.get(address).map(|&i| &self.leaves[i as usize])
    }

    /// The leaf index of `address`, if it has one.
    pub fn index_of(&self, address: &Address) -> Option<u64> {
        self.index_of.get(address).copied()
    }

    /// Number of accounts.
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    /// Whether the ledger has no account.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// All accounts in leaf order.
    pub fn leaves(&self) -> &[AccountLeaf] {
        &self.leaves
    }

    /// The ledger root (recomputes paths changed since the last call).
    pub fn root(&mut self) -> Digest {
        self.tree.root()
    }

    /// The authentication path of `address` against [`Self::root`].
    pub fn path(&mut self, address: &Address) -> Option<MerklePath> {
        let index = self.index_of(address)?;
        self.tree.path(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(byte: u8, nonce: u64, balance: u128) -> AccountLeaf {
        AccountLeaf { address: Address::repeat_byte(byte), nonce, balance }
    }

    /// The root changes exactly when a leaf's content changes, and paths verify against it.
    #[test]
    fn root_tracks_content() {
        let mut ledger = AccountLedger::new();
        let empty = ledger.root();
        ledger.upsert(account(1, 0, 100)).unwrap();
        ledger.upsert(account(2, 0, 50)).unwrap();
        let root = ledger.root();
        assert_ne!(root, empty);
        ledger.upsert(account(1, 0, 100)).unwrap();
        assert_eq!(ledger.root(), root, "rewriting the same content keeps the root");
        ledger.upsert(account(1, 1, 100)).unwrap();
        let bumped = ledger.root();
        assert_ne!(bumped, root, "a nonce change moves the root");
        let path = ledger.path(&Address::repeat_byte(2)).unwrap();
        assert_eq!(path.root_for(account(2, 0, 50).digest()), bumped);
        assert_eq!(ledger.index_of(&Address::repeat_byte(2)), Some(1));
    }

    /// A ledger capped below its tree refuses a new account (recorded or not) but still updates
    /// the accounts it holds.
    #[test]
    fn capacity_refuses_new_accounts_only() {
        let mut ledger = AccountLedger::new();
        ledger.upsert(account(1, 0, 100)).unwrap();
        ledger.set_capacity(2);
        ledger.upsert(account(2, 0, 5)).unwrap();
        assert_eq!(ledger.room(), 0);
        let full = Err(TreeError::Full { depth: ACCOUNT_TREE_DEPTH, capacity: 2 });
        assert_eq!(ledger.upsert(account(3, 0, 1)), full);
        assert_eq!(ledger.upsert_recorded(account(3, 0, 1)).map(|w| w.index), full);
        assert_eq!(ledger.len(), 2);
        assert_eq!(ledger.upsert(account(1, 1, 90)), Ok(0), "an existing account still updates");
    }

    /// A recorded write's path proves the root before and after it, for updates and allocations.
    #[test]
    fn recorded_writes_chain_roots() {
        let mut ledger = AccountLedger::new();
        ledger.upsert(account(1, 0, 100)).unwrap();
        for leaf in [account(2, 0, 5), account(1, 1, 90), account(3, 0, 1), account(2, 0, 15)] {
            let before = ledger.root();
            let write = ledger.upsert_recorded(leaf).unwrap();
            assert_eq!(write.root_before(), before);
            assert_eq!(write.root_after(), ledger.root());
            assert_eq!(write.siblings.len(), ACCOUNT_TREE_DEPTH);
        }
        assert_eq!(ledger.upsert_recorded(account(4, 0, 0)).unwrap().before, None, "a new account");
    }
}
