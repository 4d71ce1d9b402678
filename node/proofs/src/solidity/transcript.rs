//! plonky2's Fiat-Shamir transcript for the Keccak configuration, as the generated contract runs it:
//! a [`Sponge`] whose absorbed elements are written straight into the state (plonky2 buffers them
//! and writes them at the next permutation: the same thing, since nothing reads the state in
//! between), and the order of observations and challenges of `ProofWithPublicInputs::
//! get_challenges` ([`challenges`]). The generator uses it for the constant prefix of the transcript
//! (FRI parameters and circuit digest, baked into the contract); a test checks it against plonky2.

use plonky2::field::types::{Field, PrimeField64};
use plonky2::fri::reduction_strategies::FriReductionStrategy;
use plonky2::hash::hash_types::BytesHash;
use plonky2::hash::hashing::PlonkyPermutation;
use plonky2::hash::keccak::KeccakPermutation;
use plonky2::plonk::circuit_data::CommonCircuitData;
use plonky2::plonk::config::{GenericHashOut, Hasher};
use plonky2::plonk::proof::ProofWithPublicInputs;
use zkcrowd_ledger::F;

use super::layout::{HASH_BYTES, coordinates};
use crate::D;
use crate::wrap::KeccakC;

/// Sponge rate: elements absorbed per permutation.
pub(crate) const RATE: usize = 8;
/// Sponge width.
pub(crate) const WIDTH: usize = 12;

/// plonky2's duplex sponge over the Keccak pseudo-permutation, in the contract's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sponge {
    /// The state; positions below `position` hold absorbed, not yet permuted, elements.
    pub state: [F; WIDTH],
    /// Elements absorbed since the last permutation (plonky2's input buffer length).
    pub position: usize,
    /// Unread outputs (plonky2's output buffer length): `state[..outputs]`, read from the top.
    pub outputs: usize,
}

impl Default for Sponge {
    fn default() -> Self {
        Self { state: [F::ZERO; WIDTH], position: 0, outputs: 0 }
    }
}

impl Sponge {
    fn permute(&mut self) {
        let mut permutation = KeccakPermutation::new(self.state);
        permutation.permute();
        self.state.copy_from_slice(permutation.as_ref());
        self.position = 0;
        self.outputs = RATE;
    }

    /// plonky2's `observe_element`.
    pub fn observe(&mut self, element: F) {
        self.outputs = 0;
        self.state[self.position] = element;
        self.position += 1;
        if self.position == RATE {
            self.permute();
        }
    }

    /// `observe_element` of each.
    pub fn observe_all(&mut self, elements: &[F]) {
        for &element in elements {
            self.observe(element);
        }
    }

    /// plonky2's `observe_hash` of a 25-byte Keccak digest (four elements of 7, 7, 7, 4 bytes).
    pub fn observe_digest(&mut self, digest: &BytesHash<HASH_BYTES>) {
        self.observe_all(&GenericHashOut::<F>::to_vec(digest));
    }

    /// plonky2's `get_challenge`.
    pub fn challenge(&mut self) -> F {
        if self.position != 0 || self.outputs == 0 {
            self.permute();
        }
        self.outputs -= 1;
        self.state[self.outputs]
    }

    /// plonky2's `get_extension_challenge`.
    pub fn extension_challenge(&mut self) -> [F; 2] {
        let first = self.challenge();
        [first, self.challenge()]
    }
}

/// The elements `FriParams::observe` absorbs: the FRI configuration, then hiding, degree bits and
/// arities.
pub(crate) fn fri_parameter_elements(common: &CommonCircuitData<F, D>) -> Vec<F> {
    let params = &common.fri_params;
    let config = &params.config;
    let mut out = vec![
        F::from_canonical_usize(config.rate_bits),
        F::from_canonical_usize(config.cap_height),
        F::from_canonical_u32(config.proof_of_work_bits),
    ];
    out.extend(config.reduction_strategy.serialize::<F>());
    out.push(F::from_canonical_usize(config.num_query_rounds));
    out.push(F::from_bool(params.hiding));
    out.push(F::from_canonical_usize(params.degree_bits));
    out.extend(params.reduction_arity_bits.iter().map(|&bits| F::from_canonical_usize(bits)));
    debug_assert!(matches!(config.reduction_strategy, FriReductionStrategy::Fixed(_)) || !out.is_empty());
    out
}

/// The sponge after the constant prefix of every transcript: the FRI parameters and the circuit
/// digest.
pub(crate) fn prefix(common: &CommonCircuitData<F, D>, circuit_digest: &BytesHash<HASH_BYTES>) -> Sponge {
    let mut sponge = Sponge::default();
    sponge.observe_all(&fri_parameter_elements(common));
    sponge.observe_digest(circuit_digest);
    sponge
}

/// Every challenge of a proof, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenges {
    /// β per challenge round.
    pub betas: Vec<F>,
    /// γ per challenge round.
    pub gammas: Vec<F>,
    /// α per challenge round.
    pub alphas: Vec<F>,
    /// ζ.
    pub zeta: [F; 2],
    /// FRI's batching α.
    pub fri_alpha: [F; 2],
    /// One β per FRI folding.
    pub fri_betas: Vec<[F; 2]>,
    /// The proof-of-work response.
    pub pow_response: F,
    /// Query indices into the LDE.
    pub query_indices: Vec<usize>,
}

/// The challenges of `proof` under the transcript model (checked against plonky2's in tests).
pub fn challenges(
    common: &CommonCircuitData<F, D>,
    circuit_digest: &BytesHash<HASH_BYTES>,
    proof: &ProofWithPublicInputs<F, KeccakC, D>,
) -> Challenges {
    let mut sponge = prefix(common, circuit_digest);
    let num_challenges = common.config.num_challenges;
    let public_inputs_hash =
        <KeccakC as plonky2::plonk::config::GenericConfig<D>>::InnerHasher::hash_no_pad(&proof.public_inputs);
    sponge.observe_all(&public_inputs_hash.elements);
    let proof = &proof.proof;
    for digest in &proof.wires_cap.0 {
        sponge.observe_digest(digest);
    }
    let betas = (0..num_challenges).map(|_| sponge.challenge()).collect();
    let gammas = (0..num_challenges).map(|_| sponge.challenge()).collect();
    for digest in &proof.plonk_zs_partial_products_cap.0 {
        sponge.observe_digest(digest);
    }
    let alphas = (0..num_challenges).map(|_| sponge.challenge()).collect();
    for digest in &proof.quotient_polys_cap.0 {
        sponge.observe_digest(digest);
    }
    let zeta = sponge.extension_challenge();
    let openings = &proof.openings;
    for value in [
        &openings.constants,
        &openings.plonk_sigmas,
        &openings.wires,
        &openings.plonk_zs,
        &openings.partial_products,
        &openings.quotient_polys,
        &openings.plonk_zs_next,
    ]
    .into_iter()
    .flatten()
    {
        sponge.observe_all(&coordinates(*value));
    }
    let fri = &proof.opening_proof;
    let fri_alpha = sponge.extension_challenge();
    let fri_betas = fri
        .commit_phase_merkle_caps
        .iter()
        .map(|cap| {
            for digest in &cap.0 {
                sponge.observe_digest(digest);
            }
            sponge.extension_challenge()
        })
        .collect();
    for coefficient in &fri.final_poly.coeffs {
        sponge.observe_all(&coordinates(*coefficient));
    }
    sponge.observe(fri.pow_witness);
    let pow_response = sponge.challenge();
    let lde_size = 1usize << (common.degree_bits() + common.config.fri_config.rate_bits);
    let query_indices = (0..common.config.fri_config.num_query_rounds)
        .map(|_| sponge.challenge().to_canonical_u64() as usize % lde_size)
        .collect();
    Challenges { betas, gammas, alphas, zeta, fri_alpha, fri_betas, pow_response, query_indices }
}
