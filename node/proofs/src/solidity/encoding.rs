//! A wrapped proof's calldata ([`encode_proof`]) and its decoding back into plonky2's structure
//! ([`decode_proof`], for the Rust side of the differential tests). The layout is in
//! [`super::layout`].

use plonky2::field::polynomial::PolynomialCoeffs;
use plonky2::field::types::{Field, Field64, PrimeField64};
use plonky2::fri::proof::{FriInitialTreeProof, FriProof, FriQueryRound, FriQueryStep};
use plonky2::hash::hash_types::BytesHash;
use plonky2::hash::merkle_proofs::MerkleProof;
use plonky2::hash::merkle_tree::MerkleCap;
use plonky2::plonk::proof::{OpeningSet, Proof, ProofWithPublicInputs};
use zkcrowd_ledger::F;

use super::layout::{EXT_BYTES, Ext, FIELD_BYTES, HASH_BYTES, Layout, Shape, coordinates, from_coordinates};
use crate::D;
use crate::wrap::KeccakC;

type Hash = BytesHash<HASH_BYTES>;

/// Why calldata is not a proof of the shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Wrong total length.
    #[error("{found} bytes of proof, the layout has {expected}")]
    Length {
        /// Bytes given.
        found: usize,
        /// Bytes of the layout.
        expected: usize,
    },
    /// A field element at or above the modulus.
    #[error("the field element at byte {offset} is not canonical")]
    NonCanonical {
        /// Its offset in the calldata.
        offset: usize,
    },
    /// A proof whose structure differs from the shape (encoding side).
    #[error("the proof does not have the verifier's shape: {0}")]
    Shape(String),
}

/// Calldata of `proof` (its public inputs are passed separately).
pub fn encode_proof(shape: &Shape, proof: &ProofWithPublicInputs<F, KeccakC, D>) -> Result<Vec<u8>, DecodeError> {
    let layout = Layout::of(shape);
    let proof = &proof.proof;
    let mut out = Vec::with_capacity(layout.total);
    let shape_error = |what: &str| DecodeError::Shape(what.to_owned());
    let cap = |out: &mut Vec<u8>, cap: &MerkleCap<F, plonky2::hash::keccak::KeccakHash<HASH_BYTES>>| {
        if cap.0.len() != shape.cap_len() {
            return Err(shape_error("cap length"));
        }
        for hash in &cap.0 {
            out.extend_from_slice(&hash.0);
        }
        Ok(())
    };
    cap(&mut out, &proof.wires_cap)?;
    cap(&mut out, &proof.plonk_zs_partial_products_cap)?;
    cap(&mut out, &proof.quotient_polys_cap)?;
    let openings = &proof.openings;
    if !openings.lookup_zs.is_empty() || !openings.lookup_zs_next.is_empty() {
        return Err(shape_error("lookups"));
    }
    let zeta: Vec<Ext> = [
        &openings.constants,
        &openings.plonk_sigmas,
        &openings.wires,
        &openings.plonk_zs,
        &openings.partial_products,
        &openings.quotient_polys,
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect();
    if zeta.len() != shape.open_zeta() || openings.plonk_zs_next.len() != shape.open_next() {
        return Err(shape_error("openings"));
    }
    for value in zeta.iter().chain(&openings.plonk_zs_next) {
        push_ext(&mut out, *value);
    }
    let fri = &proof.opening_proof;
    if fri.commit_phase_merkle_caps.len() != shape.reduction_arity_bits.len() {
        return Err(shape_error("commit-phase caps"));
    }
    for commit in &fri.commit_phase_merkle_caps {
        cap(&mut out, commit)?;
    }
    if fri.final_poly.coeffs.len() != shape.final_poly_len() {
        return Err(shape_error("final polynomial"));
    }
    for &coefficient in &fri.final_poly.coeffs {
        push_ext(&mut out, coefficient);
    }
    push_field(&mut out, fri.pow_witness);
    if fri.query_round_proofs.len() != shape.num_queries {
        return Err(shape_error("query rounds"));
    }
    let step_paths = shape.step_path_lengths();
    for round in &fri.query_round_proofs {
        let initial = &round.initial_trees_proof.evals_proofs;
        if initial.len() != 4 {
            return Err(shape_error("initial trees"));
        }
        for ((leaf, path), size) in initial.iter().zip(shape.oracle_sizes()) {
            if leaf.len() != size || path.siblings.len() != shape.initial_path_length() {
                return Err(shape_error("initial leaf or path"));
            }
            for &value in leaf {
                push_field(&mut out, value);
            }
            for hash in &path.siblings {
                out.extend_from_slice(&hash.0);
            }
        }
        if round.steps.len() != shape.reduction_arity_bits.len() {
            return Err(shape_error("query steps"));
        }
        for ((step, &arity), &path_length) in round.steps.iter().zip(&shape.reduction_arity_bits).zip(&step_paths) {
            if step.evals.len() != 1 << arity || step.merkle_proof.siblings.len() != path_length {
                return Err(shape_error("step evaluations or path"));
            }
            for &value in &step.evals {
                push_ext(&mut out, value);
            }
            for hash in &step.merkle_proof.siblings {
                out.extend_from_slice(&hash.0);
            }
        }
    }
    debug_assert_eq!(out.len(), layout.total);
    Ok(out)
}

fn push_field(out: &mut Vec<u8>, value: F) {
    out.extend_from_slice(&value.to_canonical_u64().to_le_bytes());
}

fn push_ext(out: &mut Vec<u8>, value: Ext) {
    for coordinate in coordinates(value) {
        push_field(out, coordinate);
    }
}

/// A cursor over calldata that refuses non-canonical field elements.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn field(&mut self) -> Result<F, DecodeError> {
        let word = u64::from_le_bytes(self.bytes[self.at..self.at + FIELD_BYTES].try_into().expect("8 bytes"));
        if word >= F::ORDER {
            return Err(DecodeError::NonCanonical { offset: self.at });
        }
        self.at += FIELD_BYTES;
        Ok(F::from_canonical_u64(word))
    }

    fn ext(&mut self) -> Result<Ext, DecodeError> {
        Ok(from_coordinates([self.field()?, self.field()?]))
    }

    fn exts(&mut self, count: usize) -> Result<Vec<Ext>, DecodeError> {
        (0..count).map(|_| self.ext()).collect()
    }

    fn hash(&mut self) -> Hash {
        let hash = BytesHash(self.bytes[self.at..self.at + HASH_BYTES].try_into().expect("25 bytes"));
        self.at += HASH_BYTES;
        hash
    }

    fn cap(&mut self, length: usize) -> MerkleCap<F, plonky2::hash::keccak::KeccakHash<HASH_BYTES>> {
        MerkleCap((0..length).map(|_| self.hash()).collect())
    }

    fn path(&mut self, length: usize) -> MerkleProof<F, plonky2::hash::keccak::KeccakHash<HASH_BYTES>> {
        MerkleProof { siblings: (0..length).map(|_| self.hash()).collect() }
    }
}

/// Decodes calldata of `shape` into plonky2's proof, with `public_inputs`.
pub fn decode_proof(
    shape: &Shape,
    bytes: &[u8],
    public_inputs: Vec<F>,
) -> Result<ProofWithPublicInputs<F, KeccakC, D>, DecodeError> {
    let layout = Layout::of(shape);
    if bytes.len() != layout.total {
        return Err(DecodeError::Length { found: bytes.len(), expected: layout.total });
    }
    let mut reader = Reader { bytes, at: 0 };
    let cap_len = shape.cap_len();
    let wires_cap = reader.cap(cap_len);
    let plonk_zs_partial_products_cap = reader.cap(cap_len);
    let quotient_polys_cap = reader.cap(cap_len);
    let mut section = |count: usize| reader.exts(count);
    let constants = section(shape.num_constants)?;
    let plonk_sigmas = section(shape.num_routed_wires)?;
    let wires = section(shape.num_wires)?;
    let plonk_zs = section(shape.num_challenges)?;
    let partial_products = section(shape.num_challenges * shape.num_partial_products)?;
    let quotient_polys = section(shape.num_challenges * shape.quotient_degree_factor)?;
    let plonk_zs_next = section(shape.open_next())?;
    let openings = OpeningSet {
        constants,
        plonk_sigmas,
        wires,
        plonk_zs,
        plonk_zs_next,
        partial_products,
        quotient_polys,
        lookup_zs: Vec::new(),
        lookup_zs_next: Vec::new(),
    };
    let commit_phase_merkle_caps = (0..shape.reduction_arity_bits.len()).map(|_| reader.cap(cap_len)).collect();
    let final_poly = PolynomialCoeffs::new(reader.exts(shape.final_poly_len())?);
    let pow_witness = reader.field()?;
    let step_paths = shape.step_path_lengths();
    let mut query_round_proofs = Vec::with_capacity(shape.num_queries);
    for _ in 0..shape.num_queries {
        let mut evals_proofs = Vec::with_capacity(4);
        for size in shape.oracle_sizes() {
            let leaf = (0..size).map(|_| reader.field()).collect::<Result<Vec<F>, _>>()?;
            evals_proofs.push((leaf, reader.path(shape.initial_path_length())));
        }
        let mut steps = Vec::with_capacity(step_paths.len());
        for (&arity, &path_length) in shape.reduction_arity_bits.iter().zip(&step_paths) {
            let evals = reader.exts(1 << arity)?;
            steps.push(FriQueryStep { evals, merkle_proof: reader.path(path_length) });
        }
        query_round_proofs.push(FriQueryRound { initial_trees_proof: FriInitialTreeProof { evals_proofs }, steps });
    }
    debug_assert_eq!(reader.at, layout.total);
    debug_assert_eq!(EXT_BYTES, 2 * FIELD_BYTES);
    Ok(ProofWithPublicInputs {
        proof: Proof {
            wires_cap,
            plonk_zs_partial_products_cap,
            quotient_polys_cap,
            openings,
            opening_proof: FriProof { commit_phase_merkle_caps, query_round_proofs, final_poly, pow_witness },
        },
        public_inputs,
    })
}
