//! The two circuit shapes ([`CommonCircuitData`]): one for the transfer and span (leaf)
//! circuits, one for the four aggregation circuits.
//!
//! **Leaf shape**: the span circuit with the transfer circuit's gates added to its gate set; the
//! transfer circuit is padded to it. Leaf proofs are small (2^11 rows) and cheap.
//!
//! **Aggregate shape**: an aggregation circuit verifies aggregates of its own shape (cyclic
//! recursion), and the shape depends on what is verified, so it is found as a fixed point, the way
//! plonky2's cyclic-recursion tests do: start from the shape of a small recursive circuit, define
//! the (aggregate, aggregate) circuit over it with every gate the other variants use, padded to the
//! shape's degree, take the shape of the result, and repeat until it no longer changes. The other
//! three variants (which verify one or two leaf proofs, which is cheaper) are padded to it.
//! Only circuit *definitions* and mock builds are involved (no commitment): a few seconds.

use plonky2::field::types::Field;
use plonky2::gates::gate::GateRef;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::merkle_tree::MerkleCap;
use plonky2::plonk::circuit_data::{CircuitConfig, CommonCircuitData, VerifierOnlyCircuitData};
use zkcrowd_ledger::F;

use crate::circuits::{AGGREGATE_PUBLIC_INPUTS, Variant, define_aggregate, define_span, define_transfer};
use crate::gadgets::Builder;
use crate::{C, D};

/// Rounds of the fixed-point search before giving up (it converges in three).
const SHAPE_ROUNDS_MAX: usize = 8;

/// The configuration of every circuit.
pub(crate) fn config() -> CircuitConfig {
    CircuitConfig::standard_recursion_config()
}

/// Adds `goal`'s gates to the builder's gate set and pads it with no-ops so that it builds to
/// `goal`'s degree (the build itself appends the public-input gate and constants).
pub(crate) fn pad_to(builder: &mut Builder, goal: &CommonCircuitData<F, D>) {
    for gate in &goal.gates {
        builder.add_gate_to_gate_set(gate.clone());
    }
    let half = 1usize << (goal.degree_bits() - 1);
    while builder.num_gates() <= half {
        builder.add_gate(NoopGate, vec![]);
    }
}

/// Verifier data with distinct made-up values: stands for the leaf circuits' while the shape is
/// searched (the values do not matter, their number of distinct constants does).
fn placeholder_verifier_data(seed: u64) -> VerifierOnlyCircuitData<C, D> {
    let element = |i: u64| F::from_canonical_u64(seed * 1_000 + i);
    VerifierOnlyCircuitData {
        constants_sigmas_cap: MerkleCap(
            (0..16).map(|i| HashOut { elements: std::array::from_fn(|j| element(4 * i + j as u64)) }).collect(),
        ),
        circuit_digest: HashOut { elements: std::array::from_fn(|j| element(100 + j as u64)) },
    }
}

/// The gates of a circuit being defined (a mock build of it, no commitment).
fn gates_of(builder: Builder) -> Vec<GateRef<F, D>> {
    builder.mock_build::<C>().common.gates
}

/// The leaf shape (see the module documentation).
pub(crate) fn leaf_shape() -> CommonCircuitData<F, D> {
    let mut transfer = Builder::new(config());
    define_transfer(&mut transfer);
    let mut builder = Builder::new(config());
    define_span(&mut builder);
    for gate in gates_of(transfer) {
        builder.add_gate_to_gate_set(gate);
    }
    builder.mock_build::<C>().common
}

/// The aggregate shape (see the module documentation), for leaves of shape `leaf`.
pub(crate) fn aggregate_shape(leaf: &CommonCircuitData<F, D>) -> anyhow::Result<CommonCircuitData<F, D>> {
    // Seed: a circuit that verifies one proof of the empty circuit.
    let empty = Builder::new(config()).mock_build::<C>().common;
    let mut builder = Builder::new(config());
    let proof = builder.add_virtual_proof_with_pis(&empty);
    let verifier_data = builder.add_virtual_verifier_data(empty.config.fri_config.cap_height);
    builder.verify_proof::<C>(&proof, &verifier_data, &empty);
    let mut goal = builder.mock_build::<C>().common;
    goal.num_public_inputs = AGGREGATE_PUBLIC_INPUTS;
    let (transfer, span) = (placeholder_verifier_data(1), placeholder_verifier_data(2));

    for _ in 0..SHAPE_ROUNDS_MAX {
        let mut others = Vec::new();
        for variant in &Variant::ALL[1..] {
            let mut builder = Builder::new(config());
            define_aggregate(&mut builder, *variant, leaf, &goal, &transfer, &span);
            others.extend(gates_of(builder));
        }
        let mut builder = Builder::new(config());
        define_aggregate(&mut builder, Variant::ALL[0], leaf, &goal, &transfer, &span);
        for gate in others {
            builder.add_gate_to_gate_set(gate);
        }
        pad_to(&mut builder, &goal);
        let next = builder.mock_build::<C>().common;
        if next == goal {
            return Ok(goal);
        }
        goal = next;
    }
    anyhow::bail!("the aggregation circuits' shape did not reach a fixed point in {SHAPE_ROUNDS_MAX} rounds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::LEAF_PUBLIC_INPUTS;

    /// The shapes exist, the leaf one has 2^11 rows and the aggregate one 2^13, and each leaves
    /// room for its circuits' own gates (printed, for the documentation).
    #[test]
    fn shapes_fit_every_circuit() {
        let leaf = leaf_shape();
        let aggregate = aggregate_shape(&leaf).unwrap();
        assert_eq!(leaf.degree_bits(), 11);
        assert_eq!(aggregate.degree_bits(), 13);
        assert_eq!(leaf.num_public_inputs, LEAF_PUBLIC_INPUTS);
        assert_eq!(aggregate.num_public_inputs, AGGREGATE_PUBLIC_INPUTS);
        let mut transfer = Builder::new(config());
        define_transfer(&mut transfer);
        let mut span = Builder::new(config());
        define_span(&mut span);
        for (name, builder) in [("transfer", &transfer), ("span", &span)] {
            eprintln!("{name}: {} gates before padding to {}", builder.num_gates(), 1 << leaf.degree_bits());
            assert!(builder.num_gates() < 1 << leaf.degree_bits());
        }
        for variant in Variant::ALL {
            let mut builder = Builder::new(config());
            define_aggregate(
                &mut builder,
                variant,
                &leaf,
                &aggregate,
                &placeholder_verifier_data(1),
                &placeholder_verifier_data(2),
            );
            eprintln!("aggregate {variant}: {} gates before padding to {}", builder.num_gates(), 1 << 13);
            assert!(builder.num_gates() < 1 << aggregate.degree_bits());
        }
    }
}
