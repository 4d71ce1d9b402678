//! A fixed-depth Poseidon Merkle tree whose leaves are allocated left to right.
//!
//! The model is Mina's ledger: every account receives a leaf index when it first appears and keeps it
//! forever, so the tree is *left-packed*. Level `l` then holds `ceil(len / 2^l)` non-empty nodes, kept
//! in one dense vector per level; every node to the right of them is the precomputed empty subtree
//! of that height. An update costs `depth` Poseidon hashes instead of the 160 of a sparse tree keyed
//! by address.
//!
//! Updates are batched: [`MerkleTree::set`] marks a leaf dirty and [`MerkleTree::root`] recomputes each
//! dirty path once, sharing the upper levels between leaves that were touched together (the sender
//! and receiver of a transfer share the top of their paths).
//!
//! Hashing is a parameter ([`TreeHasher`]): [`Poseidon`] (plonky2's, over Goldilocks) for trees a
//! circuit must open, [`Sha256`] for commitments only validators recompute (hardware-accelerated on
//! x86 with SHA-NI, and an EVM precompile should L1 ever need to open one). Leaves are digests
//! produced by the caller (see [`crate::AccountLeaf`]); an inner node is `combine(left, right)`; an
//! empty leaf is the zero digest.
//!
//! A tree can journal its leaves ([`MerkleTree::begin`]) so that a block that fails validation is
//! undone exactly ([`MerkleTree::revert`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use alloy::primitives::B256;
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use sha2::Digest as _;

use crate::{Digest, F};

/// The hash of a tree: how two children combine and what an empty leaf is.
pub trait TreeHasher {
    /// A node.
    type Digest: Copy + Eq + Debug;
    /// The empty leaf.
    const EMPTY: Self::Digest;
    /// The parent of two nodes.
    fn combine(left: Self::Digest, right: Self::Digest) -> Self::Digest;
}

/// plonky2's Poseidon over Goldilocks: `two_to_one(left, right)`.
#[derive(Debug, Clone, Copy)]
pub struct Poseidon;

impl TreeHasher for Poseidon {
    type Digest = Digest;
    const EMPTY: Digest = HashOut::<F>::ZERO;
    fn combine(left: Digest, right: Digest) -> Digest {
        PoseidonHash::two_to_one(left, right)
    }
}

/// SHA-256 of the 64-byte concatenation.
#[derive(Debug, Clone, Copy)]
pub struct Sha256;

impl TreeHasher for Sha256 {
    type Digest = B256;
    const EMPTY: B256 = B256::ZERO;
    fn combine(left: B256, right: B256) -> B256 {
        let mut hasher = sha2::Sha256::new();
        hasher.update(left.as_slice());
        hasher.update(right.as_slice());
        B256::from(<[u8; 32]>::from(hasher.finalize()))
    }
}

/// SHA-256 of `bytes`, as 32 bytes.
pub fn sha256(bytes: &[u8]) -> B256 {
    B256::from(<[u8; 32]>::from(sha2::Sha256::digest(bytes)))
}

/// Why a tree operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// All `2^depth` leaves are taken.
    #[error("the tree is full: all {capacity} leaves of a depth-{depth} tree are allocated")]
    Full {
        /// Tree depth.
        depth: usize,
        /// Number of leaves, `2^depth`.
        capacity: u64,
    },
}

/// The siblings from a leaf up to the root, lowest first; `index` selects left or right at each level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerklePath<D = Digest> {
    /// Leaf index.
    pub index: u64,
    /// `siblings[l]` is the sibling at level `l` (level 0 = leaves).
    pub siblings: Vec<D>,
}

impl MerklePath<Digest> {
    /// The root this path gives for `leaf` (Poseidon).
    pub fn root_for(&self, leaf: Digest) -> Digest {
        self.root_with::<Poseidon>(leaf)
    }
}

impl<D: Copy> MerklePath<D> {
    /// The root this path gives for `leaf` under hasher `H`.
    pub fn root_with<H: TreeHasher<Digest = D>>(&self, leaf: D) -> D {
        let mut node = leaf;
        for (level, sibling) in self.siblings.iter().enumerate() {
            node = if (self.index >> level) & 1 == 0 { H::combine(node, *sibling) } else { H::combine(*sibling, node) };
        }
        node
    }
}

#[derive(Debug, Clone)]
struct LeafJournal<D> {
    len: u64,
    old: BTreeMap<u64, D>,
}

/// A left-packed Merkle tree of fixed depth (see the module documentation).
#[derive(Debug, Clone)]
pub struct MerkleTree<H: TreeHasher = Poseidon> {
    depth: usize,
    /// `levels[0]` are the leaves; `levels[depth]` holds the root once the tree is non-empty.
    levels: Vec<Vec<H::Digest>>,
    /// `empty[l]` is the root of an empty subtree of height `l`.
    empty: Vec<H::Digest>,
    /// Leaves changed since the last [`MerkleTree::root`].
    dirty: BTreeSet<u64>,
    journal: Option<LeafJournal<H::Digest>>,
}

impl<H: TreeHasher> MerkleTree<H> {
    /// Deepest tree supported: indices are `u64` and level vectors are addressed by `usize`.
    pub const DEPTH_MAX: usize = 48;

    /// An empty tree of `depth` levels (`2^depth` leaves).
    ///
    /// # Panics
    /// If `depth` is 0 or above [`Self::DEPTH_MAX`].
    pub fn new(depth: usize) -> Self {
        assert!(depth > 0, "a Merkle tree needs at least one level");
        assert!(depth <= Self::DEPTH_MAX, "depth {depth} above {}", Self::DEPTH_MAX);
        let mut empty = Vec::with_capacity(depth + 1);
        empty.push(H::EMPTY);
        for level in 0..depth {
            let below = empty[level];
            empty.push(H::combine(below, below));
        }
        Self { depth, levels: vec![Vec::new(); depth + 1], empty, dirty: BTreeSet::new(), journal: None }
    }

    /// Starts recording leaf changes so that [`Self::revert`] can undo them.
    ///
    /// # Panics
    /// If a journal is already open.
    pub fn begin(&mut self) {
        assert!(self.journal.is_none(), "tree journal already open");
        self.journal = Some(LeafJournal { len: self.len(), old: BTreeMap::new() });
    }

    /// Keeps the changes since [`Self::begin`].
    pub fn commit(&mut self) {
        assert!(self.journal.take().is_some(), "no tree journal open");
    }

    /// Undoes every leaf change since [`Self::begin`].
    pub fn revert(&mut self) {
        let journal = self.journal.take().expect("no tree journal open");
        self.truncate(journal.len);
        for (index, digest) in journal.old {
            if index < journal.len {
                self.set(index, digest);
            }
        }
    }

    /// Tree depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Number of allocated leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether no leaf is allocated.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// Number of leaves the tree can hold, `2^depth`.
    pub fn capacity(&self) -> u64 {
        1u64 << self.depth
    }

    /// The root of an empty tree of this depth.
    pub fn empty_root(&self) -> H::Digest {
        self.empty[self.depth]
    }

    /// Allocates the next leaf index and sets it to `leaf`.
    pub fn push(&mut self, leaf: H::Digest) -> Result<u64, TreeError> {
        let index = self.len();
        if index == self.capacity() {
            return Err(TreeError::Full { depth: self.depth, capacity: self.capacity() });
        }
        self.levels[0].push(leaf);
        self.dirty.insert(index);
        Ok(index)
    }

    /// Replaces the leaf at `index`.
    ///
    /// # Panics
    /// If `index` was never allocated (a programmer error: callers map keys to allocated indices).
    pub fn set(&mut self, index: u64, leaf: H::Digest) {
        let slot = &mut self.levels[0][usize::try_from(index).expect("index fits usize")];
        if *slot != leaf {
            if let Some(journal) = &mut self.journal {
                journal.old.entry(index).or_insert(*slot);
            }
            *slot = leaf;
            self.dirty.insert(index);
        }
    }

    /// The leaf at `index`, if allocated.
    pub fn leaf(&self, index: u64) -> Option<H::Digest> {
        self.levels[0].get(usize::try_from(index).ok()?).copied()
    }

    /// Drops every leaf at index `len` and above (undoing allocations), keeping the rest.
    pub fn truncate(&mut self, len: u64) {
        if len >= self.len() {
            return;
        }
        let len_usize = usize::try_from(len).expect("length fits usize");
        self.dirty.retain(|&i| i < len);
        for level in 0..=self.depth {
            let width = len_usize.div_ceil(1 << level);
            self.levels[level].truncate(width);
        }
        // Only the ancestors of the last remaining leaf had a removed leaf below them.
        if len > 0 {
            self.dirty.insert(len - 1);
        }
    }

    /// The current root, recomputing the paths of leaves changed since the last call.
    pub fn root(&mut self) -> H::Digest {
        self.flush();
        self.levels[self.depth].first().copied().unwrap_or(self.empty[self.depth])
    }

    /// The authentication path of leaf `index` against [`Self::root`], or `None` if not allocated.
    pub fn path(&mut self, index: u64) -> Option<MerklePath<H::Digest>> {
        if index >= self.len() {
            return None;
        }
        self.slot_path(index)
    }

    /// The authentication path of slot `index` against [`Self::root`], allocated or not (an
    /// unallocated slot holds the empty leaf); `None` beyond the tree's capacity. This is how a
    /// circuit proves an allocation: the slot was empty under the old root.
    pub fn slot_path(&mut self, index: u64) -> Option<MerklePath<H::Digest>> {
        if index >= self.capacity() {
            return None;
        }
        self.flush();
        let siblings = (0..self.depth).map(|level| self.node(level, (index >> level) ^ 1)).collect();
        Some(MerklePath { index, siblings })
    }

    fn node(&self, level: usize, index: u64) -> H::Digest {
        usize::try_from(index).ok().and_then(|i| self.levels[level].get(i).copied()).unwrap_or(self.empty[level])
    }

    fn flush(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        // Indices are sorted and deduplicated at every level, so each node is hashed once.
        let mut changed: Vec<u64> = std::mem::take(&mut self.dirty).into_iter().collect();
        for level in 0..self.depth {
            let mut parents: Vec<u64> = Vec::with_capacity(changed.len());
            for &child in &changed {
                let parent = child >> 1;
                if parents.last() != Some(&parent) {
                    parents.push(parent);
                }
            }
            let width = self.levels[level].len().div_ceil(2);
            self.levels[level + 1].resize(width, self.empty[level + 1]);
            for &parent in &parents {
                let left = self.node(level, parent << 1);
                let right = self.node(level, (parent << 1) | 1);
                self.levels[level + 1][parent as usize] = H::combine(left, right);
            }
            changed = parents;
        }
        debug_assert!(self.levels[self.depth].len() <= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plonky2::field::types::Field;
    use proptest::prelude::*;

    fn leaf(value: u64) -> Digest {
        PoseidonHash::hash_no_pad(&[F::from_canonical_u64(value)])
    }

    /// Reference: the root computed level by level over all `2^depth` leaves, from scratch.
    fn naive_root(depth: usize, leaves: &[Digest]) -> Digest {
        let mut level: Vec<Digest> =
            (0..1u64 << depth).map(|i| leaves.get(i as usize).copied().unwrap_or(HashOut::ZERO)).collect();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| PoseidonHash::two_to_one(p[0], p[1])).collect();
        }
        level[0]
    }

    /// An empty tree's root is the empty subtree root, and a full tree refuses another leaf.
    #[test]
    fn empty_and_full() {
        let mut tree = MerkleTree::<Poseidon>::new(2);
        assert_eq!(tree.root(), naive_root(2, &[]));
        for i in 0..4 {
            assert_eq!(tree.push(leaf(i)).unwrap(), i);
        }
        assert_eq!(tree.push(leaf(9)), Err(TreeError::Full { depth: 2, capacity: 4 }));
        assert_eq!(tree.root(), naive_root(2, &(0..4).map(leaf).collect::<Vec<_>>()));
    }

    proptest! {
        /// Batched incremental roots and paths equal a from-scratch computation after any sequence
        /// of pushes and updates, flushed at arbitrary points.
        #[test]
        fn incremental_equals_naive(
            ops in proptest::collection::vec((0u64..40, 0u64..1000, any::<bool>()), 1..60),
        ) {
            let depth = 6;
            let mut tree = MerkleTree::<Poseidon>::new(depth);
            let mut model: Vec<Digest> = Vec::new();
            for (slot, value, flush) in ops {
                if (slot as usize) < model.len() {
                    model[slot as usize] = leaf(value);
                    tree.set(slot, leaf(value));
                } else {
                    model.push(leaf(value));
                    tree.push(leaf(value)).unwrap();
                }
                if flush {
                    let root = tree.root();
                    prop_assert_eq!(root, naive_root(depth, &model));
                    let index = slot % model.len() as u64;
                    let path = tree.path(index).unwrap();
                    prop_assert_eq!(path.root_for(model[index as usize]), root);
                    let other = PoseidonHash::two_to_one(model[index as usize], model[index as usize]);
                    prop_assert_ne!(path.root_for(other), root);
                }
            }
            prop_assert_eq!(tree.root(), naive_root(depth, &model));
        }

        /// Truncating undoes allocations: the root equals that of the shorter leaf list.
        #[test]
        fn truncate_equals_naive(count in 1u64..40, keep in 0u64..40) {
            let depth = 6;
            let mut tree = MerkleTree::<Poseidon>::new(depth);
            let leaves: Vec<Digest> = (0..count).map(leaf).collect();
            for l in &leaves {
                tree.push(*l).unwrap();
            }
            tree.root();
            let keep = keep.min(count);
            tree.truncate(keep);
            prop_assert_eq!(tree.len(), keep);
            prop_assert_eq!(tree.root(), naive_root(depth, &leaves[..keep as usize]));
        }

        /// A journaled batch of pushes and sets is undone exactly by revert (SHA-256 tree).
        #[test]
        fn revert_restores_root(
            initial in 0u64..20,
            ops in proptest::collection::vec((0u64..30, any::<u8>()), 0..30),
        ) {
            let mut tree = MerkleTree::<Sha256>::new(5);
            for i in 0..initial {
                tree.push(B256::with_last_byte(i as u8 + 1)).unwrap();
            }
            let before = tree.root();
            tree.begin();
            for (slot, byte) in ops {
                if slot < tree.len() {
                    tree.set(slot, B256::repeat_byte(byte));
                } else {
                    tree.push(B256::repeat_byte(byte)).unwrap();
                }
                if byte % 3 == 0 {
                    tree.root();
                }
            }
            tree.revert();
            prop_assert_eq!(tree.len(), initial);
            prop_assert_eq!(tree.root(), before);
        }
    }
}
