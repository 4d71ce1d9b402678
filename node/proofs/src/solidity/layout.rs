//! The numbers a verifier of one circuit needs ([`Shape`], read from its common data) and the
//! calldata layout of its proofs ([`Layout`]): every section at a fixed offset, so the contract
//! reads the proof without parsing it.
//!
//! A proof's calldata, in order (field elements as plonky2 serializes them: 8 bytes little-endian,
//! extension elements as their two coordinates; hashes as their 25 bytes):
//!
//! | section | size |
//! | --- | --- |
//! | wires cap, Z/partial-products cap, quotient cap | 3 × `cap` × 25 |
//! | openings at ζ (constants, σs, wires, Zs, partial products, quotient chunks), then the Zs at gζ | (`open_zeta` + `open_next`) × 16 |
//! | FRI commit-phase caps | `steps` × `cap` × 25 |
//! | final polynomial coefficients | `final_poly_len` × 16 |
//! | proof-of-work witness | 8 |
//! | per query: four leaves (`oracle_sizes` elements × 8) each followed by its path, then per FRI step the coset's evaluations (`2^arity` × 16) and its path | `query_bytes` each |
//!
//! The openings are in the order plonky2's challenger observes them, so the transcript absorbs
//! them from calldata in one run.

use plonky2::field::extension::{Extendable, FieldExtension};
use plonky2::plonk::circuit_data::CommonCircuitData;
use zkcrowd_ledger::F;

use crate::D;

/// The quadratic extension.
pub type Ext = <F as Extendable<D>>::Extension;

/// An extension element's two coordinates.
pub fn coordinates(value: Ext) -> [F; 2] {
    <Ext as FieldExtension<D>>::to_basefield_array(&value)
}

/// The extension element with these coordinates.
pub fn from_coordinates(coordinates: [F; 2]) -> Ext {
    <Ext as FieldExtension<D>>::from_basefield_array(coordinates)
}

/// Bytes of a Merkle digest under `KeccakHash<25>`.
pub(crate) const HASH_BYTES: usize = 25;
/// Bytes of a base field element.
pub(crate) const FIELD_BYTES: usize = 8;
/// Bytes of an extension field element.
pub(crate) const EXT_BYTES: usize = 16;

/// What a verifier of one circuit is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// log2 of the rows.
    pub degree_bits: usize,
    /// log2 of the FRI blowup.
    pub rate_bits: usize,
    /// Merkle cap height.
    pub cap_height: usize,
    /// Permutation-argument challenges (β, γ, α each).
    pub num_challenges: usize,
    /// Wires per row.
    pub num_wires: usize,
    /// Wires under copy constraints (one σ polynomial each).
    pub num_routed_wires: usize,
    /// Constant polynomials (selectors first).
    pub num_constants: usize,
    /// Partial products per challenge.
    pub num_partial_products: usize,
    /// Quotient chunks per challenge (also the partial products' chunk size).
    pub quotient_degree_factor: usize,
    /// Public inputs.
    pub num_public_inputs: usize,
    /// FRI query rounds.
    pub num_queries: usize,
    /// FRI grinding bits.
    pub proof_of_work_bits: u32,
    /// log2 of each FRI folding's arity.
    pub reduction_arity_bits: Vec<usize>,
}

impl Shape {
    /// The shape of a circuit; fails on features the generator does not support (lookups,
    /// zero knowledge, an extension other than quadratic).
    pub fn of(common: &CommonCircuitData<F, D>) -> anyhow::Result<Self> {
        anyhow::ensure!(common.num_lookup_polys == 0 && common.luts.is_empty(), "lookups are not supported");
        anyhow::ensure!(!common.fri_params.hiding, "zero-knowledge (salted) proofs are not supported");
        anyhow::ensure!(common.fri_params.config.rate_bits >= 1, "a rate of 1");
        let config = &common.config;
        let shape = Self {
            degree_bits: common.degree_bits(),
            rate_bits: config.fri_config.rate_bits,
            cap_height: config.fri_config.cap_height,
            num_challenges: config.num_challenges,
            num_wires: config.num_wires,
            num_routed_wires: config.num_routed_wires,
            num_constants: common.num_constants,
            num_partial_products: common.num_partial_products,
            quotient_degree_factor: common.quotient_degree_factor,
            num_public_inputs: common.num_public_inputs,
            num_queries: config.fri_config.num_query_rounds,
            proof_of_work_bits: config.fri_config.proof_of_work_bits,
            reduction_arity_bits: common.fri_params.reduction_arity_bits.clone(),
        };
        anyhow::ensure!(
            shape.reduction_arity_bits.iter().sum::<usize>() <= shape.degree_bits,
            "FRI folds past a constant"
        );
        for size in shape.oracle_sizes() {
            // A leaf of up to three elements is not hashed (`hash_or_noop`); every leaf here is larger.
            anyhow::ensure!(size * FIELD_BYTES > HASH_BYTES, "a Merkle leaf of {size} elements is not hashed");
        }
        anyhow::ensure!(shape.lde_bits() - shape.cap_height >= 1, "the Merkle trees are no taller than their caps");
        let mut height = shape.lde_bits();
        for &arity in &shape.reduction_arity_bits {
            anyhow::ensure!(arity >= 1, "a FRI step of arity 1");
            height -= arity;
            anyhow::ensure!(height >= shape.cap_height, "a FRI tree below its cap height");
        }
        Ok(shape)
    }

    /// Digests per Merkle cap.
    pub fn cap_len(&self) -> usize {
        1 << self.cap_height
    }

    /// log2 of the LDE domain.
    pub fn lde_bits(&self) -> usize {
        self.degree_bits + self.rate_bits
    }

    /// Elements in each initial oracle's leaves: constants and σs, wires, Zs and partial
    /// products, quotient chunks.
    pub fn oracle_sizes(&self) -> [usize; 4] {
        [
            self.num_constants + self.num_routed_wires,
            self.num_wires,
            self.num_challenges * (1 + self.num_partial_products),
            self.num_challenges * self.quotient_degree_factor,
        ]
    }

    /// Extension elements opened at ζ (the initial leaves, in the same order).
    pub fn open_zeta(&self) -> usize {
        self.oracle_sizes().iter().sum()
    }

    /// Extension elements opened at gζ (the Zs).
    pub fn open_next(&self) -> usize {
        self.num_challenges
    }

    /// Coefficients of the final FRI polynomial.
    pub fn final_poly_len(&self) -> usize {
        1 << (self.degree_bits - self.reduction_arity_bits.iter().sum::<usize>())
    }

    /// Siblings in each FRI step's Merkle path.
    pub fn step_path_lengths(&self) -> Vec<usize> {
        let mut height = self.lde_bits();
        self.reduction_arity_bits
            .iter()
            .map(|&arity| {
                height -= arity;
                height - self.cap_height
            })
            .collect()
    }

    /// Siblings in an initial tree's Merkle path.
    pub fn initial_path_length(&self) -> usize {
        self.lde_bits() - self.cap_height
    }

    /// plonky2's conjectured security: rate bits per query plus the grinding bits.
    pub fn conjectured_security_bits(&self) -> usize {
        self.rate_bits * self.num_queries + self.proof_of_work_bits as usize
    }
}

/// Byte offsets of a proof's sections in its calldata (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The three caps: wires, Zs and partial products, quotient.
    pub caps: [usize; 3],
    /// Openings at ζ, then at gζ.
    pub openings: usize,
    /// FRI commit-phase caps.
    pub commit_caps: usize,
    /// Final polynomial.
    pub final_poly: usize,
    /// Proof-of-work witness.
    pub pow_witness: usize,
    /// First query round.
    pub queries: usize,
    /// Bytes per query round.
    pub query_bytes: usize,
    /// Within a query: each initial leaf, then its path.
    pub initial: [(usize, usize); 4],
    /// Within a query: each FRI step's evaluations, then its path.
    pub steps: Vec<(usize, usize)>,
    /// Total bytes.
    pub total: usize,
}

impl Layout {
    /// The layout of `shape`'s proofs.
    pub fn of(shape: &Shape) -> Self {
        let cap_bytes = shape.cap_len() * HASH_BYTES;
        let caps = [0, cap_bytes, 2 * cap_bytes];
        let openings = 3 * cap_bytes;
        let commit_caps = openings + (shape.open_zeta() + shape.open_next()) * EXT_BYTES;
        let final_poly = commit_caps + shape.reduction_arity_bits.len() * cap_bytes;
        let pow_witness = final_poly + shape.final_poly_len() * EXT_BYTES;
        let queries = pow_witness + FIELD_BYTES;
        let mut at = 0;
        let initial = shape.oracle_sizes().map(|size| {
            let leaf = at;
            at += size * FIELD_BYTES;
            let path = at;
            at += shape.initial_path_length() * HASH_BYTES;
            (leaf, path)
        });
        let steps = shape
            .reduction_arity_bits
            .iter()
            .zip(shape.step_path_lengths())
            .map(|(&arity, path_length)| {
                let evals = at;
                at += (1 << arity) * EXT_BYTES;
                let path = at;
                at += path_length * HASH_BYTES;
                (evals, path)
            })
            .collect();
        let query_bytes = at;
        Self {
            caps,
            openings,
            commit_caps,
            final_poly,
            pow_witness,
            queries,
            query_bytes,
            initial,
            steps,
            total: queries + shape.num_queries * query_bytes,
        }
    }
}
