//! Real plonky2 proofs of ledger-root transitions: a **transfer** circuit (one ZKPoW transfer), a
//! **span** circuit (1..=16 market calls), and four **aggregation** circuits (one per [`Variant`]:
//! each child a leaf or an aggregate) that fold two adjacent proofs into one, so a block of any
//! size and any tree shape ends in one proof under one verifier key family. [`RealVerifier`] plugs
//! them into the market.
//!
//! All circuits use plonky2 1.1 with `PoseidonGoldilocksConfig`, `D = 2` and
//! `CircuitConfig::standard_recursion_config()` (100-bit conjectured security, 28 FRI queries).
//!
//! # Public inputs
//!
//! Every proof starts with the 19 fields of `Statement::to_fields()` (pre root 4, post root 4,
//! commitment 4, job id as two 32-bit limbs, prover address as five); transfer and span proofs
//! expose only these ([`LEAF_PUBLIC_INPUTS`]). Aggregates add four: the **anchor**, a Poseidon hash
//! of the four aggregation circuits' verifier data ([`AGGREGATE_PUBLIC_INPUTS`]). The job id and
//! prover are not computed by the circuit: they are bound by plonky2's public-input hash, so a
//! proof for one prover or job does not verify for another.
//!
//! # What is proven
//!
//! **Transfer** (public inputs as above, commitment = `transfer_commitment(tx_hash, sender,
//! receiver, nonce, value, fee)` recomputed in-circuit from the same limbs the ledger rules use):
//! 1. two leaf writes, the lower address first (strictly: sender ≠ receiver), the first's Merkle path
//!    (index as 24 bits, 24 siblings) taking the pre root to a middle root, the second's taking the
//!    middle root to the post root; before and after roots of a write come from the same siblings;
//! 2. leaves hashed in-circuit as `Poseidon(address ‖ nonce ‖ balance)` in 32-bit limbs;
//! 3. sender: an existing leaf; nonce `n → n + 1` (carry across its two limbs, no wrap); balance
//!    `b → b − value − fee` with borrows and no underflow; address unchanged;
//! 4. receiver: balance `+ value` with carries and no overflow past 2^128, nonce unchanged; or,
//!    with the allocation flag, an empty slot (the zero digest) read as nonce 0 balance 0;
//! 5. value > 0; every limb of every input range-checked to 32 bits.
//!
//! The fee leaves the sender and reaches no leaf: it is burned (the burn address is not in the ledger).
//!
//! **Span** (16 slots, slot 0 always active, the active flags a prefix): each active slot writes
//! its sender's existing leaf, nonce `+1`, balance `− debit + credit` (no underflow, no overflow, at
//! most one of the two non-zero), from the root the previous slot left; commitment
//! `c_1`, then `combine_commitments(c, c_i)` over the active slots, with `c_i = call_commitment(..)`.
//!
//! **Aggregate**: two child proofs verify, a leaf child under the transfer or span circuit's
//! verifier data (constants), an aggregate child under one of the four aggregation circuits'
//! (witnesses whose hash is this proof's anchor; the child's anchor must equal this proof's);
//! `left.post_root == right.pre_root`; the statement is `(left.pre, right.post,
//! combine_commitments(left.commitment, right.commitment), job id, aggregator)`.
//!
//! # What is not proven
//!
//! No ECDSA signature, keccak or RLP is proven in-circuit. The transaction hash enters only as eight
//! 32-bit limbs of the commitment: the circuits do not derive it from the transaction, and do not
//! check that the sender signed it. Authorization (signature recovery), tx-hash derivation, the
//! fee's computation from gas (the fee is a committed input whose burning is proven), EVM execution,
//! the MPT state root and the market's own logic (which proof a call accepted, whom it paid) are
//! checked by the executing validators, who compute the commitment from what they executed.
//! The circuits also do not prove that an allocated receiver's address had no leaf elsewhere, nor that
//! the allocated slot is the next free one: the statement's roots come from the chain's ledger,
//! which allocates each address once, left to right.
//!
//! The **wrapper** ([`Wrapper`], the proof the L1 verifies) proves exactly what the range's root
//! proof proves (its pre root, post root and commitment, under the real transfer, span or
//! aggregation circuits, the anchor checked in-circuit) and nothing about the range record it binds:
//! the L2 chain id, the first and last block numbers and the wrap's prover are free inputs of the
//! final circuit, tied to the proof only by plonky2's public-input hash (as a leaf proof's job id
//! and prover are). The market accepts a wrap only with its job's range and its own prover bound
//! (`WrappingVerifier`), but a prover outside the market could label a range with numbers of its
//! choice; the L1 contract enforces
//! that ranges chain by their ledger roots and that each starts at the next number, so a mislabelled
//! range shifts the numbering the L1 records but cannot break the chain of roots. The root proof's
//! job id and prover are not exposed.
//!
//! # Aggregation design: small leaves, cyclic recursion among four aggregation circuits
//!
//! Two shapes ([`plonky2::plonk::circuit_data::CommonCircuitData`], see `shape.rs`): the transfer
//! and span circuits share a **leaf shape** of 2^11 rows (204 and 1,735 rows of their own), and the
//! four aggregation circuits share an **aggregate shape** of 2^13 rows, found as a fixed point
//! because an aggregate verifies aggregates of its own shape. A plonky2 verifier gadget verifies one
//! shape, so each child slot is either a leaf slot or an aggregate slot, and each pair is its own
//! circuit: (aggregate, aggregate) needs 7,997 rows, (aggregate, leaf) and (leaf, aggregate) 7,489,
//! (leaf, leaf) 6,975. Two recursive verifications do not fit in 2^12 rows, so aggregates stay at
//! 2^13; leaves do not need to, which makes a transfer proof about four times cheaper than an
//! aggregate (it was one 2^13-row proof when every circuit shared one shape).
//!
//! Cyclic recursion: an aggregate's anchor input commits to the four aggregation circuits' verifier
//! data; in-circuit, an aggregate child is verified under the one its two variant bits select, and
//! its anchor must equal ours. [`ProofSystem::verify`] checks the top proof's anchor against the
//! real circuits: by induction every aggregate below was verified under a real aggregation circuit
//! and every leaf under the real transfer or span circuit. The market's trees (a lone last node
//! rises, so unbalanced trees mix leaves and aggregates at any height) need nothing else.
//!
//! # The L1's proof: the wrapper
//!
//! [`Wrapper`] turns a range's root proof into one `KeccakGoldilocksConfig` proof (two stages: a
//! Poseidon "normalize" circuit over the leaf or aggregate root, then the final Keccak circuit, see
//! `wrap.rs`) whose 16 public inputs are the pre root, post root, commitment and the range binding
//! ([`RangeRecord::binding`]). [`solidity`] generates the Solidity verifier of the final circuit
//! (`contracts/src/generated/`), its calldata encoding and the forge fixtures.
//!
//! # Usage
//!
//! ```no_run
//! use std::sync::Arc;
//! use zkcrowd_proofs::{ProofSystem, RealVerifier};
//!
//! let system = Arc::new(ProofSystem::load_or_build(std::path::Path::new("target/proof-cache"))?);
//! let verifier = RealVerifier(system.clone()); // a `zkcrowd_market::ProofVerifier`
//! # let _ = verifier;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Proof bytes are not deterministic (plonky2 draws OS randomness and searches its proof of work
//! in parallel); verdicts and public inputs are.

mod cache;
pub mod calibration;
mod circuits;
mod gadgets;
mod shape;
pub mod solidity;
mod system;
mod witness;
mod wrap;

pub use circuits::{AGGREGATE_PUBLIC_INPUTS, LEAF_PUBLIC_INPUTS, VERIFIER_DATA_FIELDS, Variant};
pub use system::{
    CIRCUIT_VERSION, CircuitKind, PROOF_BYTES_MAX, ProofError, ProofSystem, RealProof, RealVerifier, SystemOrigin,
    tamper_public_input,
};
pub use witness::{CallWitness, SPAN_CALLS_MAX, SpanWitness, TransferWitness, WitnessError};
pub use wrap::{
    FinalFri, KeccakC, NormalizedProof, RangeRecord, WRAP_PUBLIC_INPUTS, WrapInputs, Wrapper, WrappingVerifier,
};

/// The recursion configuration: Poseidon over Goldilocks.
pub(crate) type C = plonky2::plonk::config::PoseidonGoldilocksConfig;

/// Extension degree of the recursion configuration.
pub(crate) const D: usize = 2;
