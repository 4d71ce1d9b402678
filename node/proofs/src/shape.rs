//! The one circuit shape ([`CommonCircuitData`]) shared by the transfer, span and aggregation
//! circuits.
//!
//! The aggregation circuit verifies proofs of a fixed shape, and its own proofs must have that same
//! shape to be verified by the next aggregation up (cyclic recursion). The shape depends on what
//! is verified, so it is found as a fixed point, the way plonky2's cyclic-recursion tests do:
//! start from the shape of a small recursive circuit, define the aggregation circuit over it (with
//! every gate the leaf circuits use, padded to the shape's degree), take the shape of the result,
//! and repeat until it no longer changes. The leaf circuits are then padded to that shape.
//! Only circuit *definitions* and mock builds are involved (no commitment), so this costs about a
//! second.

use plonky2::field::types::Field;
use plonky2::gates::gate::GateRef;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::merkle_tree::MerkleCap;
use plonky2::plonk::circuit_data::{CircuitConfig, CommonCircuitData, VerifierOnlyCircuitData};
use zkcrowd_ledger::F;

use crate::circuits::{NUM_PUBLIC_INPUTS, define_aggregate, define_span, define_transfer};
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

/// The gates the transfer and span circuits use.
fn leaf_gates() -> Vec<GateRef<F, D>> {
    let mut gates = Vec::new();
    let mut builder = Builder::new(config());
    define_transfer(&mut builder);
    gates.extend(builder.mock_build::<C>().common.gates);
    let mut builder = Builder::new(config());
    define_span(&mut builder);
    gates.extend(builder.mock_build::<C>().common.gates);
    gates
}

/// The shared shape (see the module documentation).
pub(crate) fn common_shape() -> anyhow::Result<CommonCircuitData<F, D>> {
    let leaf_gates = leaf_gates();
    // Seed: a circuit that verifies one proof of the empty circuit.
    let empty = Builder::new(config()).mock_build::<C>().common;
    let mut builder = Builder::new(config());
    let proof = builder.add_virtual_proof_with_pis(&empty);
    let verifier_data = builder.add_virtual_verifier_data(empty.config.fri_config.cap_height);
    builder.verify_proof::<C>(&proof, &verifier_data, &empty);
    let mut goal = builder.mock_build::<C>().common;
    goal.num_public_inputs = NUM_PUBLIC_INPUTS;

    for _ in 0..SHAPE_ROUNDS_MAX {
        let mut builder = Builder::new(config());
        define_aggregate(&mut builder, &goal, &placeholder_verifier_data(1), &placeholder_verifier_data(2));
        for gate in &leaf_gates {
            builder.add_gate_to_gate_set(gate.clone());
        }
        pad_to(&mut builder, &goal);
        let next = builder.mock_build::<C>().common;
        if next == goal {
            return Ok(goal);
        }
        goal = next;
    }
    anyhow::bail!("the aggregation circuit's shape did not reach a fixed point in {SHAPE_ROUNDS_MAX} rounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed point exists, has 2^13 rows, and leaves room in it for each circuit's own
    /// gates (printed, for the documentation).
    #[test]
    fn shape_fits_every_circuit() {
        let shape = common_shape().unwrap();
        assert_eq!(shape.degree_bits(), 13);
        assert_eq!(shape.num_public_inputs, NUM_PUBLIC_INPUTS);
        let mut transfer = Builder::new(config());
        define_transfer(&mut transfer);
        let mut span = Builder::new(config());
        define_span(&mut span);
        let mut aggregate = Builder::new(config());
        define_aggregate(&mut aggregate, &shape, &placeholder_verifier_data(1), &placeholder_verifier_data(2));
        for (name, builder) in [("transfer", &transfer), ("span", &span), ("aggregate", &aggregate)] {
            eprintln!("{name}: {} gates before padding to {}", builder.num_gates(), 1 << shape.degree_bits());
            assert!(builder.num_gates() < 1 << shape.degree_bits());
        }
    }
}
