//! The circuits: their definitions (targets and constraints) and their witness assignment.
//!
//! Two **leaf** circuits (transfer, span) share one small shape and expose the 19 public inputs of
//! `Statement::to_fields` ([`LEAF_PUBLIC_INPUTS`]). Four **aggregation** circuits, one per kind of
//! child pair ([`Variant`]: each child a leaf or an aggregate), share one larger shape and expose
//! the statement and the hash of the four aggregation circuits' verifier data
//! ([`AGGREGATE_PUBLIC_INPUTS`]); see [`crate::shape`] and the crate documentation.

use alloy::primitives::Address;
use plonky2::field::types::Field;
use plonky2::hash::hash_types::{HashOut, HashOutTarget, MerkleCapTarget};
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_data::{CommonCircuitData, VerifierCircuitTarget, VerifierOnlyCircuitData};
use plonky2::plonk::proof::{ProofWithPublicInputs, ProofWithPublicInputsTarget};
use zkcrowd_ledger::{AccountLeaf, F};
use zkcrowd_market::{CALL_COMMITMENT_TAG, Statement, TRANSFER_COMMITMENT_TAG, hash_limbs};

use crate::gadgets::{
    Builder, LeafTargets, PathTargets, StatementTargets, add_no_overflow, conditional_connect_hashes, hash, increment,
    leaf_digest, less_than, limbs, select_hash, select_limbs, sub_no_underflow, two_to_one,
};
use crate::witness::{SPAN_CALLS_MAX, SpanWitness, TransferAssignment, TransferWitness};
use crate::{C, D};

/// Field elements of a circuit's verifier data: the circuit digest (4) and the constants/sigmas
/// Merkle cap (16 digests of 4 under `standard_recursion_config`, cap height 4).
pub const VERIFIER_DATA_FIELDS: usize = 4 + 4 * 16;

/// Public inputs of a leaf (transfer or span) proof: the statement.
pub const LEAF_PUBLIC_INPUTS: usize = Statement::FIELDS;

/// Public inputs of an aggregate proof: the statement, then the four-field hash of the four
/// aggregation circuits' verifier data (the cyclic-recursion anchor).
pub const AGGREGATE_PUBLIC_INPUTS: usize = Statement::FIELDS + 4;

// ---------------------------------------------------------------------------------------------
// Transfer

/// The transfer circuit's inputs.
#[derive(Debug, Clone)]
pub(crate) struct TransferTargets {
    sender_first: BoolTarget,
    sender: LeafTargets,
    receiver: LeafTargets,
    receiver_new: BoolTarget,
    value: [Target; 4],
    fee: [Target; 4],
    tx_hash: [Target; 8],
    paths: [PathTargets; 2],
    statement: StatementTargets,
}

/// Defines the transfer circuit (see the crate documentation for the rules it enforces).
pub(crate) fn define_transfer(builder: &mut Builder) -> TransferTargets {
    let sender_first = builder.add_virtual_bool_target_safe();
    let sender = LeafTargets::new(builder);
    let receiver = LeafTargets::new(builder);
    let receiver_new = builder.add_virtual_bool_target_safe();
    let value = limbs::<4>(builder);
    let fee = limbs::<4>(builder);
    let tx_hash = limbs::<8>(builder);
    let paths = [PathTargets::new(builder), PathTargets::new(builder)];

    // A new receiver comes from an empty slot: nonce 0, balance 0.
    let zero = builder.zero();
    for &limb in receiver.nonce.iter().chain(&receiver.balance) {
        builder.conditional_assert_eq(receiver_new.target, limb, zero);
    }
    // The value is positive: the sum of its limbs (below 2^34, so no wrap) has an inverse.
    let value_sum = builder.add_many(value);
    builder.inverse(value_sum);

    // Balances and nonce. The fee is burned: it leaves the sender and reaches no leaf.
    let sender_paid_value = sub_no_underflow(builder, &sender.balance, &value);
    let sender_balance = sub_no_underflow(builder, &sender_paid_value, &fee);
    let sender_nonce = increment(builder, &sender.nonce);
    let receiver_balance = add_no_overflow(builder, &receiver.balance, &value);

    let sender_before = leaf_digest(builder, &sender.address, &sender.nonce, &sender.balance);
    let sender_after = leaf_digest(builder, &sender.address, &sender_nonce, &sender_balance);
    let receiver_existing = leaf_digest(builder, &receiver.address, &receiver.nonce, &receiver.balance);
    let empty = builder.constant_hash(HashOut::ZERO);
    let receiver_before = select_hash(builder, receiver_new, empty, receiver_existing);
    let receiver_after = leaf_digest(builder, &receiver.address, &receiver.nonce, &receiver_balance);

    // The chain writes the lower address first. Strict order also makes sender ≠ receiver, so the
    // two writes touch two different leaves.
    let first_address = select_limbs(builder, sender_first, &sender.address, &receiver.address);
    let second_address = select_limbs(builder, sender_first, &receiver.address, &sender.address);
    let ordered = less_than(builder, &first_address, &second_address);
    builder.assert_one(ordered.target);

    let first_before = select_hash(builder, sender_first, sender_before, receiver_before);
    let first_after = select_hash(builder, sender_first, sender_after, receiver_after);
    let second_before = select_hash(builder, sender_first, receiver_before, sender_before);
    let second_after = select_hash(builder, sender_first, receiver_after, sender_after);
    let pre_root = paths[0].root(builder, first_before);
    let middle_root = paths[0].root(builder, first_after);
    let middle_root_again = paths[1].root(builder, second_before);
    builder.connect_hashes(middle_root, middle_root_again);
    let post_root = paths[1].root(builder, second_after);

    // transfer_commitment(tx_hash, sender, receiver, nonce, value, fee), from the same targets.
    let tag = builder.constant(F::from_canonical_u64(TRANSFER_COMMITMENT_TAG));
    let mut fields = vec![tag];
    fields.extend(tx_hash);
    fields.extend(sender.address);
    fields.extend(receiver.address);
    fields.extend(sender.nonce);
    fields.extend(value);
    fields.extend(fee);
    let commitment = hash(builder, &fields);

    let statement = StatementTargets::register(builder, pre_root, post_root, commitment);
    TransferTargets { sender_first, sender, receiver, receiver_new, value, fee, tx_hash, paths, statement }
}

impl TransferTargets {
    /// The witness of `transfer` (structurally checked into `assignment`).
    pub(crate) fn assign(
        &self,
        transfer: &TransferWitness,
        assignment: &TransferAssignment,
        job_id: u64,
        prover: Address,
    ) -> anyhow::Result<PartialWitness<F>> {
        let mut witness = PartialWitness::new();
        witness.set_bool_target(self.sender_first, assignment.sender_first)?;
        self.sender.set(&mut witness, &assignment.sender)?;
        self.receiver.set(&mut witness, &assignment.receiver)?;
        witness.set_bool_target(self.receiver_new, assignment.receiver_new)?;
        witness.set_target_arr(&self.value, &zkcrowd_ledger::u128_limbs(transfer.value_wei))?;
        witness.set_target_arr(&self.fee, &zkcrowd_ledger::u128_limbs(transfer.fee_wei))?;
        witness.set_target_arr(&self.tx_hash, &hash_limbs(transfer.tx_hash))?;
        for (path, write) in self.paths.iter().zip(&transfer.writes) {
            path.set(&mut witness, write.index, &write.siblings)?;
        }
        self.statement.set(&mut witness, job_id, prover)?;
        Ok(witness)
    }
}

// ---------------------------------------------------------------------------------------------
// Span

/// One call slot of the span circuit.
#[derive(Debug, Clone)]
struct SlotTargets {
    /// `None` for slot 0, which is always active.
    active: Option<BoolTarget>,
    leaf: LeafTargets,
    debit: [Target; 4],
    credit: [Target; 4],
    tx_hash: [Target; 8],
    path: PathTargets,
}

/// The span circuit's inputs.
#[derive(Debug, Clone)]
pub(crate) struct SpanTargets {
    slots: Vec<SlotTargets>,
    statement: StatementTargets,
}

/// Defines the span circuit: [`SPAN_CALLS_MAX`] slots, a prefix of them active.
pub(crate) fn define_span(builder: &mut Builder) -> SpanTargets {
    let one = builder.one();
    let mut slots: Vec<SlotTargets> = Vec::with_capacity(SPAN_CALLS_MAX);
    let mut pre_root = None;
    let mut root: Option<HashOutTarget> = None;
    let mut commitment: Option<HashOutTarget> = None;
    for slot in 0..SPAN_CALLS_MAX {
        let active = (slot > 0).then(|| builder.add_virtual_bool_target_safe());
        // Active flags are monotone: an active slot follows an active slot.
        if let (Some(active), Some(previous)) = (active, slots.last().and_then(|s: &SlotTargets| s.active)) {
            builder.conditional_assert_eq(active.target, previous.target, one);
        }
        let leaf = LeafTargets::new(builder);
        let debit = limbs::<4>(builder);
        let credit = limbs::<4>(builder);
        let tx_hash = limbs::<8>(builder);
        let path = PathTargets::new(builder);

        // At most one of debit and credit is non-zero: every limb product vanishes (limbs are
        // below 2^32, so a non-zero amount has a non-zero limb, and the field has no zero divisors).
        for &d in &debit {
            for &c in &credit {
                let product = builder.mul(d, c);
                builder.assert_zero(product);
            }
        }
        let debited = sub_no_underflow(builder, &leaf.balance, &debit);
        let balance = add_no_overflow(builder, &debited, &credit);
        let nonce = increment(builder, &leaf.nonce);
        let before = leaf_digest(builder, &leaf.address, &leaf.nonce, &leaf.balance);
        let after = leaf_digest(builder, &leaf.address, &nonce, &balance);
        let root_before = path.root(builder, before);
        let root_after = path.root(builder, after);

        // call_commitment(tx_hash, sender, nonce, debit, credit).
        let tag = builder.constant(F::from_canonical_u64(CALL_COMMITMENT_TAG));
        let mut fields = vec![tag];
        fields.extend(tx_hash);
        fields.extend(leaf.address);
        fields.extend(leaf.nonce);
        fields.extend(debit);
        fields.extend(credit);
        let call_commitment = hash(builder, &fields);

        match (active, root, commitment) {
            (None, None, None) => {
                pre_root = Some(root_before);
                root = Some(root_after);
                commitment = Some(call_commitment);
            }
            (Some(active), Some(current_root), Some(current_commitment)) => {
                // An active slot starts from the root the previous one left; an inactive one
                // changes nothing (its witness is a dummy that satisfies the slot's rules).
                conditional_connect_hashes(builder, active, root_before, current_root);
                root = Some(select_hash(builder, active, root_after, current_root));
                let folded = two_to_one(builder, current_commitment, call_commitment);
                commitment = Some(select_hash(builder, active, folded, current_commitment));
            }
            _ => unreachable!("slot 0 alone has no active flag"),
        }
        slots.push(SlotTargets { active, leaf, debit, credit, tx_hash, path });
    }
    let statement = StatementTargets::register(
        builder,
        pre_root.expect("slot 0"),
        root.expect("slot 0"),
        commitment.expect("slot 0"),
    );
    SpanTargets { slots, statement }
}

impl SpanTargets {
    /// The witness of `span` (length- and shape-checked by the caller).
    pub(crate) fn assign(&self, span: &SpanWitness, job_id: u64, prover: Address) -> anyhow::Result<PartialWitness<F>> {
        anyhow::ensure!(
            !span.calls.is_empty() && span.calls.len() <= self.slots.len(),
            "span of {} calls",
            span.calls.len()
        );
        let mut witness = PartialWitness::new();
        // An inactive slot holds a zero account paying nothing at leaf 0 of a zero path: it
        // satisfies the slot's rules, and its roots are ignored.
        let dummy_leaf = AccountLeaf { address: Address::ZERO, nonce: 0, balance: 0 };
        let dummy_siblings = vec![HashOut::ZERO; zkcrowd_ledger::ACCOUNT_TREE_DEPTH];
        for (i, slot) in self.slots.iter().enumerate() {
            let call = span.calls.get(i);
            if let Some(active) = slot.active {
                witness.set_bool_target(active, call.is_some())?;
            }
            match call {
                Some(call) => {
                    let before =
                        call.write.before.ok_or_else(|| anyhow::anyhow!("call {i}: the sender has no leaf"))?;
                    slot.leaf.set(&mut witness, &before)?;
                    witness.set_target_arr(&slot.debit, &zkcrowd_ledger::u128_limbs(call.debit_wei))?;
                    witness.set_target_arr(&slot.credit, &zkcrowd_ledger::u128_limbs(call.credit_wei))?;
                    witness.set_target_arr(&slot.tx_hash, &hash_limbs(call.tx_hash))?;
                    slot.path.set(&mut witness, call.write.index, &call.write.siblings)?;
                }
                None => {
                    slot.leaf.set(&mut witness, &dummy_leaf)?;
                    witness.set_target_arr(&slot.debit, &[F::ZERO; 4])?;
                    witness.set_target_arr(&slot.credit, &[F::ZERO; 4])?;
                    witness.set_target_arr(&slot.tx_hash, &[F::ZERO; 8])?;
                    slot.path.set(&mut witness, 0, &dummy_siblings)?;
                }
            }
        }
        self.statement.set(&mut witness, job_id, prover)?;
        Ok(witness)
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregation

/// Which aggregation circuit: whether each child is a leaf (transfer or span) proof or an
/// aggregate. Each child slot verifies one shape, so each pair of child shapes is its own circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The left child is a transfer or span proof.
    pub left_leaf: bool,
    /// The right child is a transfer or span proof.
    pub right_leaf: bool,
}

impl Variant {
    /// Every variant, in [`Self::index`] order.
    pub const ALL: [Self; 4] = [
        Self { left_leaf: false, right_leaf: false },
        Self { left_leaf: false, right_leaf: true },
        Self { left_leaf: true, right_leaf: false },
        Self { left_leaf: true, right_leaf: true },
    ];

    /// Position in [`Self::ALL`]: `2 × left_leaf + right_leaf`.
    pub fn index(self) -> usize {
        2 * usize::from(self.left_leaf) + usize::from(self.right_leaf)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |leaf: bool| if leaf { "leaf" } else { "aggregate" };
        write!(f, "({}, {})", side(self.left_leaf), side(self.right_leaf))
    }
}

/// One child of an aggregate.
#[derive(Debug, Clone)]
enum ChildTargets {
    /// A transfer or span proof.
    Leaf { proof: ProofWithPublicInputsTarget<D>, is_span: BoolTarget },
    /// An aggregate proof by the variant these two bits name.
    Aggregate { proof: ProofWithPublicInputsTarget<D>, left_leaf: BoolTarget, right_leaf: BoolTarget },
}

impl ChildTargets {
    fn proof(&self) -> &ProofWithPublicInputsTarget<D> {
        match self {
            Self::Leaf { proof, .. } | Self::Aggregate { proof, .. } => proof,
        }
    }
}

/// An aggregation circuit's inputs.
#[derive(Debug, Clone)]
pub(crate) struct AggregateTargets {
    children: [ChildTargets; 2],
    statement: StatementTargets,
    /// The four aggregation circuits' verifier data, in [`Variant::ALL`] order: witnesses whose
    /// hash is a public input (cyclic recursion).
    aggregates: [VerifierCircuitTarget; 4],
}

pub(crate) fn constant_verifier_data(
    builder: &mut Builder,
    data: &VerifierOnlyCircuitData<C, D>,
) -> VerifierCircuitTarget {
    VerifierCircuitTarget {
        constants_sigmas_cap: builder.constant_merkle_cap(&data.constants_sigmas_cap),
        circuit_digest: builder.constant_hash(data.circuit_digest),
    }
}

pub(crate) fn select_verifier_data(
    builder: &mut Builder,
    condition: BoolTarget,
    x: &VerifierCircuitTarget,
    y: &VerifierCircuitTarget,
) -> VerifierCircuitTarget {
    VerifierCircuitTarget {
        constants_sigmas_cap: MerkleCapTarget(
            x.constants_sigmas_cap
                .0
                .iter()
                .zip(&y.constants_sigmas_cap.0)
                .map(|(a, b)| select_hash(builder, condition, *a, *b))
                .collect(),
        ),
        circuit_digest: select_hash(builder, condition, x.circuit_digest, y.circuit_digest),
    }
}

/// Verifier data as fields: digest, then cap (the order of `add_verifier_data_public_inputs`).
fn verifier_data_fields(data: &VerifierCircuitTarget) -> Vec<Target> {
    let mut fields = data.circuit_digest.elements.to_vec();
    for digest in &data.constants_sigmas_cap.0 {
        fields.extend(digest.elements);
    }
    fields
}

/// Defines the aggregation circuit `variant`. `leaf` is the transfer and span circuits' shape,
/// `aggregate` the aggregation circuits' (this circuit's own, see [`crate::shape`]); `transfer`
/// and `span` are the leaf circuits' verifier data, constants here.
pub(crate) fn define_aggregate(
    builder: &mut Builder,
    variant: Variant,
    leaf: &CommonCircuitData<F, D>,
    aggregate: &CommonCircuitData<F, D>,
    transfer: &VerifierOnlyCircuitData<C, D>,
    span: &VerifierOnlyCircuitData<C, D>,
) -> AggregateTargets {
    assert_eq!(leaf.num_public_inputs, LEAF_PUBLIC_INPUTS, "leaf proofs expose the statement");
    assert_eq!(aggregate.num_public_inputs, AGGREGATE_PUBLIC_INPUTS, "aggregates expose statement and anchor");
    let mut child = |is_leaf: bool| {
        if is_leaf {
            ChildTargets::Leaf {
                proof: builder.add_virtual_proof_with_pis(leaf),
                is_span: builder.add_virtual_bool_target_safe(),
            }
        } else {
            ChildTargets::Aggregate {
                proof: builder.add_virtual_proof_with_pis(aggregate),
                left_leaf: builder.add_virtual_bool_target_safe(),
                right_leaf: builder.add_virtual_bool_target_safe(),
            }
        }
    };
    let children = [child(variant.left_leaf), child(variant.right_leaf)];
    let input = |child: &ChildTargets, from: usize| HashOutTarget {
        elements: std::array::from_fn(|i| child.proof().public_inputs[from + i]),
    };
    let (left_pre, left_post, left_commitment) =
        (input(&children[0], 0), input(&children[0], 4), input(&children[0], 8));
    let (right_pre, right_post, right_commitment) =
        (input(&children[1], 0), input(&children[1], 4), input(&children[1], 8));

    // Adjacent spans: the left child ends where the right one starts.
    builder.connect_hashes(left_post, right_pre);
    let commitment = two_to_one(builder, left_commitment, right_commitment);
    let statement = StatementTargets::register(builder, left_pre, right_post, commitment);

    // The anchor: the hash of the four aggregation circuits' verifier data. The verifier checks it
    // against the real circuits' (outside, on the top proof); inside, every aggregate child must
    // carry the same anchor and is verified under one of these four.
    let cap_height = aggregate.config.fri_config.cap_height;
    let aggregates: [VerifierCircuitTarget; 4] = std::array::from_fn(|_| builder.add_virtual_verifier_data(cap_height));
    let anchor_fields: Vec<Target> = aggregates.iter().flat_map(verifier_data_fields).collect();
    let anchor = hash(builder, &anchor_fields);
    builder.register_public_inputs(&anchor.elements);
    assert_eq!(builder.num_public_inputs(), AGGREGATE_PUBLIC_INPUTS);

    let transfer = constant_verifier_data(builder, transfer);
    let span = constant_verifier_data(builder, span);
    for child in &children {
        match child {
            ChildTargets::Leaf { proof, is_span } => {
                let verifier_data = select_verifier_data(builder, *is_span, &span, &transfer);
                builder.verify_proof::<C>(proof, &verifier_data, leaf);
            }
            ChildTargets::Aggregate { proof, left_leaf, right_leaf } => {
                // Index 2 × left_leaf + right_leaf into [`Variant::ALL`].
                let low = select_verifier_data(builder, *right_leaf, &aggregates[1], &aggregates[0]);
                let high = select_verifier_data(builder, *right_leaf, &aggregates[3], &aggregates[2]);
                let verifier_data = select_verifier_data(builder, *left_leaf, &high, &low);
                // The child verified its own children under the anchor in its public inputs: it
                // must be ours, or a forged circuit could stand in below us.
                builder.connect_hashes(input(child, Statement::FIELDS), anchor);
                builder.verify_proof::<C>(proof, &verifier_data, aggregate);
            }
        }
    }
    AggregateTargets { children, statement, aggregates }
}

/// A child proof for [`AggregateTargets::assign`]: which circuit proved it, and the proof.
pub(crate) enum ChildProof<'a> {
    /// A transfer (`is_span` false) or span proof.
    Leaf { is_span: bool, proof: &'a ProofWithPublicInputs<F, C, D> },
    /// An aggregate by `variant`.
    Aggregate { variant: Variant, proof: &'a ProofWithPublicInputs<F, C, D> },
}

impl AggregateTargets {
    /// The witness of an aggregation of `children` (whose kinds must match the circuit's
    /// variant), with `aggregates` the four aggregation circuits' verifier data.
    pub(crate) fn assign(
        &self,
        children: [ChildProof<'_>; 2],
        aggregates: &[VerifierOnlyCircuitData<C, D>; 4],
        job_id: u64,
        prover: Address,
    ) -> anyhow::Result<PartialWitness<F>> {
        let mut witness = PartialWitness::new();
        for (targets, child) in self.children.iter().zip(children) {
            match (targets, child) {
                (ChildTargets::Leaf { proof: target, is_span: flag }, ChildProof::Leaf { is_span, proof }) => {
                    witness.set_proof_with_pis_target(target, proof)?;
                    witness.set_bool_target(*flag, is_span)?;
                }
                (
                    ChildTargets::Aggregate { proof: target, left_leaf, right_leaf },
                    ChildProof::Aggregate { variant, proof },
                ) => {
                    witness.set_proof_with_pis_target(target, proof)?;
                    witness.set_bool_target(*left_leaf, variant.left_leaf)?;
                    witness.set_bool_target(*right_leaf, variant.right_leaf)?;
                }
                _ => anyhow::bail!("a child of the wrong kind for this aggregation circuit"),
            }
        }
        for (target, data) in self.aggregates.iter().zip(aggregates) {
            witness.set_verifier_data_target(target, data)?;
        }
        self.statement.set(&mut witness, job_id, prover)?;
        Ok(witness)
    }
}
