//! Circuit gadgets shared by the transfer and span circuits: 32-bit limbs and their arithmetic,
//! account leaves, Merkle paths, and the statement's public inputs.
//!
//! Limbs are big-endian, as in [`zkcrowd_ledger`]: index 0 is the most significant word, so carries
//! and borrows run from the last index to the first.

use plonky2::field::types::Field;
use plonky2::hash::hash_types::HashOutTarget;
use plonky2::hash::hashing::PlonkyPermutation;
use plonky2::hash::poseidon::{PoseidonHash, PoseidonPermutation};
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::config::AlgebraicHasher;
use zkcrowd_ledger::{ACCOUNT_TREE_DEPTH, AccountLeaf, Digest, F};

use crate::D;

/// The circuit builder of every circuit here.
pub(crate) type Builder = CircuitBuilder<F, D>;

/// Bits per limb.
pub(crate) const LIMB_BITS: usize = 32;

/// `N` new limbs, each range-checked to 32 bits.
pub(crate) fn limbs<const N: usize>(builder: &mut Builder) -> [Target; N] {
    let limbs = builder.add_virtual_target_arr::<N>();
    for limb in limbs {
        builder.range_check(limb, LIMB_BITS);
    }
    limbs
}

/// `x − y` over big-endian 32-bit limbs, with borrows; fails unless `x ≥ y`. Both operands must be
/// range-checked limbs; the result's limbs are range-checked here.
pub(crate) fn sub_no_underflow<const N: usize>(builder: &mut Builder, x: &[Target; N], y: &[Target; N]) -> [Target; N] {
    let two_to_32 = F::from_canonical_u64(1 << LIMB_BITS);
    let one = builder.one();
    let mut borrow = builder.zero();
    let mut out = [borrow; N];
    for i in (0..N).rev() {
        // t = x_i − y_i − borrow + 2^32 lies in [0, 2^33): its bit 32 is set exactly when no borrow
        // is needed, and its low 32 bits are the difference limb.
        let t = builder.sub(x[i], y[i]);
        let t = builder.sub(t, borrow);
        let t = builder.add_const(t, two_to_32);
        let (low, high) = builder.split_low_high(t, LIMB_BITS, LIMB_BITS + 1);
        out[i] = low;
        borrow = builder.sub(one, high);
    }
    builder.assert_zero(borrow);
    out
}

/// `x + y` over big-endian 32-bit limbs, with carries; fails if the sum needs more than `32·N` bits.
pub(crate) fn add_no_overflow<const N: usize>(builder: &mut Builder, x: &[Target; N], y: &[Target; N]) -> [Target; N] {
    let mut carry = builder.zero();
    let mut out = [carry; N];
    for i in (0..N).rev() {
        // t = x_i + y_i + carry lies in [0, 2^33): low 32 bits are the limb, bit 32 the carry.
        let t = builder.add(x[i], y[i]);
        let t = builder.add(t, carry);
        let (low, high) = builder.split_low_high(t, LIMB_BITS, LIMB_BITS + 1);
        out[i] = low;
        carry = high;
    }
    builder.assert_zero(carry);
    out
}

/// `x + 1` over two limbs (a nonce); fails at `2^64 − 1`.
pub(crate) fn increment(builder: &mut Builder, x: &[Target; 2]) -> [Target; 2] {
    let zero = builder.zero();
    let one = builder.one();
    add_no_overflow(builder, x, &[zero, one])
}

/// Whether `x < y`, both big-endian range-checked limbs.
pub(crate) fn less_than<const N: usize>(builder: &mut Builder, x: &[Target; N], y: &[Target; N]) -> BoolTarget {
    let two_to_32_minus_one = F::from_canonical_u64((1 << LIMB_BITS) - 1);
    // `less` is the answer for the limbs below i; a more significant limb decides unless equal.
    let mut less = builder.zero();
    for i in (0..N).rev() {
        // t = y_i − x_i − 1 + 2^32 lies in [0, 2^33 − 1): bit 32 is set exactly when y_i > x_i.
        let t = builder.sub(y[i], x[i]);
        let t = builder.add_const(t, two_to_32_minus_one);
        let (_, greater) = builder.split_low_high(t, LIMB_BITS, LIMB_BITS + 1);
        let equal = builder.is_equal(x[i], y[i]);
        // `greater` and `equal` exclude each other, so the sum stays boolean.
        less = builder.mul_add(equal.target, less, greater);
    }
    BoolTarget::new_unsafe(less)
}

/// Poseidon of the field elements, as [`plonky2::plonk::config::Hasher::hash_no_pad`].
pub(crate) fn hash(builder: &mut Builder, inputs: &[Target]) -> HashOutTarget {
    builder.hash_n_to_hash_no_pad::<PoseidonHash>(inputs.to_vec())
}

/// `PoseidonHash::two_to_one(left, right)`, or `(right, left)` when `swap` is set.
fn compress(builder: &mut Builder, left: HashOutTarget, right: HashOutTarget, swap: BoolTarget) -> HashOutTarget {
    let zero = builder.zero();
    let mut state = PoseidonPermutation::new(core::iter::repeat(zero));
    state.set_from_slice(&left.elements, 0);
    state.set_from_slice(&right.elements, 4);
    let out = PoseidonHash::permute_swapped(state, swap, builder);
    HashOutTarget::from_vec(out.squeeze()[..4].to_vec())
}

/// `PoseidonHash::two_to_one(left, right)` ([`zkcrowd_market::combine_commitments`]).
pub(crate) fn two_to_one(builder: &mut Builder, left: HashOutTarget, right: HashOutTarget) -> HashOutTarget {
    let no_swap = builder._false();
    compress(builder, left, right, no_swap)
}

/// `condition ? x : y`, element-wise.
pub(crate) fn select_hash(
    builder: &mut Builder,
    condition: BoolTarget,
    x: HashOutTarget,
    y: HashOutTarget,
) -> HashOutTarget {
    HashOutTarget { elements: std::array::from_fn(|i| builder.select(condition, x.elements[i], y.elements[i])) }
}

/// `condition ? x : y`, limb-wise.
pub(crate) fn select_limbs<const N: usize>(
    builder: &mut Builder,
    condition: BoolTarget,
    x: &[Target; N],
    y: &[Target; N],
) -> [Target; N] {
    std::array::from_fn(|i| builder.select(condition, x[i], y[i]))
}

/// If `condition`, `x == y`.
pub(crate) fn conditional_connect_hashes(
    builder: &mut Builder,
    condition: BoolTarget,
    x: HashOutTarget,
    y: HashOutTarget,
) {
    for i in 0..4 {
        builder.conditional_assert_eq(condition.target, x.elements[i], y.elements[i]);
    }
}

/// An account leaf's fields in the circuit, all range-checked limbs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafTargets {
    pub(crate) address: [Target; 5],
    pub(crate) nonce: [Target; 2],
    pub(crate) balance: [Target; 4],
}

impl LeafTargets {
    pub(crate) fn new(builder: &mut Builder) -> Self {
        Self { address: limbs(builder), nonce: limbs(builder), balance: limbs(builder) }
    }

    pub(crate) fn set(&self, witness: &mut PartialWitness<F>, leaf: &AccountLeaf) -> anyhow::Result<()> {
        let fields = leaf.to_fields();
        witness.set_target_arr(&self.address, &fields[..5])?;
        witness.set_target_arr(&self.nonce, &fields[5..7])?;
        witness.set_target_arr(&self.balance, &fields[7..])?;
        Ok(())
    }
}

/// `AccountLeaf::digest` of (address, nonce, balance) given as limbs.
pub(crate) fn leaf_digest(
    builder: &mut Builder,
    address: &[Target; 5],
    nonce: &[Target; 2],
    balance: &[Target; 4],
) -> HashOutTarget {
    let fields: Vec<Target> = address.iter().chain(nonce).chain(balance).copied().collect();
    debug_assert_eq!(fields.len(), AccountLeaf::FIELDS);
    hash(builder, &fields)
}

/// A Merkle path: the leaf index as [`ACCOUNT_TREE_DEPTH`] bits (lowest level first) and the
/// siblings from the leaf up.
#[derive(Debug, Clone)]
pub(crate) struct PathTargets {
    pub(crate) bits: Vec<BoolTarget>,
    pub(crate) siblings: Vec<HashOutTarget>,
}

impl PathTargets {
    pub(crate) fn new(builder: &mut Builder) -> Self {
        Self {
            bits: (0..ACCOUNT_TREE_DEPTH).map(|_| builder.add_virtual_bool_target_safe()).collect(),
            siblings: (0..ACCOUNT_TREE_DEPTH).map(|_| builder.add_virtual_hash()).collect(),
        }
    }

    /// The root over `leaf`: at level `l`, bit `l` set puts the node on the right
    /// (as `MerklePath::root_with`).
    pub(crate) fn root(&self, builder: &mut Builder, leaf: HashOutTarget) -> HashOutTarget {
        let mut node = leaf;
        for (bit, sibling) in self.bits.iter().zip(&self.siblings) {
            // The Poseidon gate swaps its first two words when `bit` is set.
            node = compress(builder, node, *sibling, *bit);
        }
        node
    }

    /// Assigns a path. The caller has checked `index < 2^ACCOUNT_TREE_DEPTH` and the length.
    pub(crate) fn set(&self, witness: &mut PartialWitness<F>, index: u64, siblings: &[Digest]) -> anyhow::Result<()> {
        anyhow::ensure!(
            siblings.len() == ACCOUNT_TREE_DEPTH,
            "a path has {ACCOUNT_TREE_DEPTH} siblings, not {}",
            siblings.len()
        );
        anyhow::ensure!(index >> ACCOUNT_TREE_DEPTH == 0, "leaf index {index} is outside the tree");
        for (level, (bit, sibling)) in self.bits.iter().zip(&self.siblings).enumerate() {
            witness.set_bool_target(*bit, (index >> level) & 1 == 1)?;
            witness.set_hash_target(*sibling, siblings[level])?;
        }
        Ok(())
    }
}

/// The statement's public inputs in `Statement::to_fields` order: pre root, post root,
/// commitment, job id (two limbs), prover (five limbs). The job id and the prover are free inputs
/// of the proof, bound by the public-input hash; they are range-checked so that every accepted
/// proof's public inputs decode to a [`zkcrowd_market::Statement`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatementTargets {
    pub(crate) job_id: [Target; 2],
    pub(crate) prover: [Target; 5],
}

impl StatementTargets {
    /// Registers the 19 statement inputs.
    pub(crate) fn register(
        builder: &mut Builder,
        pre: HashOutTarget,
        post: HashOutTarget,
        commitment: HashOutTarget,
    ) -> Self {
        let job_id = limbs(builder);
        let prover = limbs(builder);
        builder.register_public_inputs(&pre.elements);
        builder.register_public_inputs(&post.elements);
        builder.register_public_inputs(&commitment.elements);
        builder.register_public_inputs(&job_id);
        builder.register_public_inputs(&prover);
        Self { job_id, prover }
    }

    pub(crate) fn set(
        &self,
        witness: &mut PartialWitness<F>,
        job_id: u64,
        prover: alloy::primitives::Address,
    ) -> anyhow::Result<()> {
        witness.set_target_arr(&self.job_id, &zkcrowd_ledger::u64_limbs(job_id))?;
        witness.set_target_arr(&self.prover, &zkcrowd_ledger::address_limbs(prover))?;
        Ok(())
    }
}
