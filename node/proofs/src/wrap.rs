//! The **wrapper**: turns the root proof of a contiguous range of L2 blocks (a transfer or span
//! proof for a one-job block, an aggregate otherwise) into one small proof under plonky2's
//! Keccak-based configuration, which the generated Solidity verifier checks on the L1
//! (`crate::solidity`).
//!
//! Two stages:
//! 1. **Normalize** (Poseidon configuration): one of two circuits of the same shape verifies the
//!    range's root proof, a leaf (transfer or span verifier data, constants) or an aggregate (one of
//!    the four aggregation circuits' verifier data, constants, and the anchor input equal to the real
//!    anchor, in-circuit), and exposes its pre root, post root and commitment. Its FRI
//!    configuration has a high rate so that stage 2, which verifies it, stays small.
//! 2. **Final** (`KeccakGoldilocksConfig`, Keccak Merkle trees and challenger): verifies a stage-1
//!    proof under one of the two stage-1 circuits (constants, chosen by a witness bit) and exposes
//!    the [`WRAP_PUBLIC_INPUTS`] = 16 public inputs: pre root (4), post root (4), commitment (4) and the
//!    range's binding (4, see [`RangeRecord::binding`]). Its FRI parameters ([`FinalFri`]) are
//!    chosen for on-chain cost (see docs/benchmarks.md, "On-chain verifier").
//!
//! The binding is a free input of the final circuit: like the job id and prover of a leaf proof, it
//! is bound by plonky2's public-input hash (a proof for one range record does not verify for
//! another), not computed from anything the circuits prove.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use alloy::primitives::{Address, B256, keccak256};
use plonky2::field::types::Field;
use plonky2::fri::FriConfig;
use plonky2::fri::reduction_strategies::FriReductionStrategy;
use plonky2::hash::hash_types::HashOutTarget;
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_data::{CircuitConfig, CircuitData, CommonCircuitData, VerifierCircuitTarget};
use plonky2::plonk::config::KeccakGoldilocksConfig;
use plonky2::plonk::proof::{ProofWithPublicInputs, ProofWithPublicInputsTarget};
use plonky2::util::serialization::{DefaultGateSerializer, DefaultGeneratorSerializer};
use zkcrowd_ledger::{Digest, F, b256_to_digest, digest_to_b256};

use crate::circuits::{Variant, constant_verifier_data, select_verifier_data};
use crate::gadgets::Builder;
use crate::shape::pad_to;
use crate::solidity::{Shape, decode_proof, encode_proof};
use crate::system::{CircuitKind, ProofError, ProofSystem, RealProof, RealVerifier, SystemOrigin, panic_message};
use crate::{C, D};
use zkcrowd_market::{ModeledVerifier, ProofData, ProofKind, ProofVerifier, Statement, WrapRecord};

/// The configuration of the final proof: truncated Keccak for Merkle trees and the challenger.
pub type KeccakC = KeccakGoldilocksConfig;

/// Public inputs of a wrapped proof: pre root, post root, commitment, binding (4 fields each).
pub const WRAP_PUBLIC_INPUTS: usize = 16;

/// Version of the wrapper circuits: bump it with any change to them, so that caches built by older
/// code are not loaded (the cache key also covers the proof system and the definitions).
const WRAPPER_VERSION: u32 = 1;

const WRAPPER_CACHE_MAGIC: &[u8; 8] = b"ZKCWRP\0\x01";

/// Public inputs of a stage-1 proof: pre root, post root, commitment.
const STAGE1_PUBLIC_INPUTS: usize = 12;

/// The L1's record of a range of L2 blocks, bound (not proven) by a wrapped proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeRecord {
    /// The L2 chain's id.
    pub chain_id: u64,
    /// The first L2 block of the range.
    pub first_block: u64,
    /// The last L2 block of the range (`≥ first_block`).
    pub last_block: u64,
    /// The range's prover (the plugin that proved the wrap): the record names who proved it, so
    /// a copied proof is worthless to the copier. Any slot owner may post it to the L1.
    pub prover: Address,
}

impl RangeRecord {
    /// `keccak256(abi.encode(uint64 chainId, uint64 firstBlock, uint64 lastBlock, address
    /// prover))` with the top bit of each 8-byte word cleared, so that its four big-endian words
    /// are canonical Goldilocks elements (the fourth public-input word of the verifier). 252 bits of
    /// keccak: a second record with the same binding costs about 2^252 hashes to find.
    pub fn binding(&self) -> B256 {
        let mut encoded = [0u8; 128];
        encoded[24..32].copy_from_slice(&self.chain_id.to_be_bytes());
        encoded[56..64].copy_from_slice(&self.first_block.to_be_bytes());
        encoded[88..96].copy_from_slice(&self.last_block.to_be_bytes());
        encoded[108..128].copy_from_slice(self.prover.as_slice());
        let mut hash = keccak256(encoded);
        for word in hash.0.chunks_exact_mut(8) {
            word[0] &= 0x7f;
        }
        hash
    }
}

/// The four 32-byte public-input words of a wrapped proof, as the L1 verifier takes them: pre root,
/// post root, commitment (each as `digest_to_b256`) and the range binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapInputs {
    /// The range's first pre ledger root.
    pub pre_root: B256,
    /// The range's last post ledger root.
    pub post_root: B256,
    /// The range's tx commitment (the root proof's).
    pub commitment: B256,
    /// [`RangeRecord::binding`].
    pub binding: B256,
}

impl WrapInputs {
    /// The four words in the verifier's order.
    pub fn words(&self) -> [B256; 4] {
        [self.pre_root, self.post_root, self.commitment, self.binding]
    }

    /// The 16 field elements (four big-endian 64-bit words per input); `None` if a word is not a
    /// canonical field element.
    pub fn to_fields(&self) -> Option<[F; WRAP_PUBLIC_INPUTS]> {
        let mut out = [F::ZERO; WRAP_PUBLIC_INPUTS];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.words()) {
            chunk.copy_from_slice(&b256_to_digest(word)?.elements);
        }
        Some(out)
    }

    /// The inverse of [`Self::to_fields`].
    pub fn from_fields(fields: &[F]) -> Option<Self> {
        if fields.len() != WRAP_PUBLIC_INPUTS {
            return None;
        }
        let word = |i: usize| digest_to_b256(Digest { elements: std::array::from_fn(|j| fields[4 * i + j]) });
        Some(Self { pre_root: word(0), post_root: word(1), commitment: word(2), binding: word(3) })
    }
}

/// FRI parameters of the final proof (the one the L1 verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalFri {
    /// log2 of the blowup: each query is worth this many bits of conjectured security.
    pub rate_bits: usize,
    /// Query rounds.
    pub num_query_rounds: usize,
    /// Grinding bits (each worth one bit of security; the prover's cost doubles per bit).
    pub proof_of_work_bits: u32,
    /// Merkle cap height (caps are in the proof, paths are shorter by this much).
    pub cap_height: usize,
    /// log2 of each FRI folding's arity.
    pub reduction_arity_bits: Vec<usize>,
}

impl FinalFri {
    /// The configuration the generated verifier uses (chosen in docs/benchmarks.md, "On-chain
    /// verifier"): rate 1/2^6, 14 queries, 16 bits of proof of work (6·14 + 16 = 100 bits).
    pub fn chosen() -> Self {
        Self {
            rate_bits: 6,
            num_query_rounds: 14,
            proof_of_work_bits: 16,
            cap_height: 4,
            reduction_arity_bits: vec![4, 4],
        }
    }

    /// plonky2's conjectured security: `rate_bits × queries + proof-of-work bits`.
    pub fn conjectured_security_bits(&self) -> usize {
        self.rate_bits * self.num_query_rounds + self.proof_of_work_bits as usize
    }

    fn circuit_config(&self) -> CircuitConfig {
        CircuitConfig {
            fri_config: FriConfig {
                rate_bits: self.rate_bits,
                cap_height: self.cap_height,
                proof_of_work_bits: self.proof_of_work_bits,
                reduction_strategy: FriReductionStrategy::Fixed(self.reduction_arity_bits.clone()),
                num_query_rounds: self.num_query_rounds,
            },
            ..CircuitConfig::standard_recursion_config()
        }
    }
}

/// The stage-1 configuration: the standard recursion configuration with a higher rate (fewer
/// queries for stage 2 to verify): rate 1/2^5, 17 queries, 15 bits of proof of work (100 bits).
fn stage1_config() -> CircuitConfig {
    let mut config = CircuitConfig::standard_recursion_config();
    config.fri_config.rate_bits = 5;
    config.fri_config.num_query_rounds = 17;
    config.fri_config.proof_of_work_bits = 15;
    config
}

/// A stage-1 circuit's inputs.
#[derive(Debug)]
enum Stage1Targets {
    /// Verifies a transfer (`is_span` false) or span proof.
    Leaf { proof: ProofWithPublicInputsTarget<D>, is_span: BoolTarget },
    /// Verifies an aggregate of the variant these bits name.
    Aggregate { proof: ProofWithPublicInputsTarget<D>, left_leaf: BoolTarget, right_leaf: BoolTarget },
}

struct Stage1 {
    data: CircuitData<F, C, D>,
    targets: Stage1Targets,
}

struct Final {
    data: CircuitData<F, KeccakC, D>,
    proof: ProofWithPublicInputsTarget<D>,
    is_aggregate: BoolTarget,
    binding: [Target; 4],
}

/// A stage-1 proof of a range's root proof (see [`Wrapper::normalize`]).
#[derive(Debug, Clone)]
pub struct NormalizedProof {
    proof: ProofWithPublicInputs<F, C, D>,
    /// Whether by the leaf stage-1 circuit.
    leaf: bool,
}

/// The wrapper circuits, built for one [`ProofSystem`] (their constants are its verifier data).
pub struct Wrapper {
    /// Stage 1 for a leaf root proof, then for an aggregate root proof (one shape).
    stage1: [Stage1; 2],
    last: Final,
    fri: FinalFri,
    /// The final proof's calldata layout (what the L1 verifier and the market take).
    shape: Shape,
    origin: SystemOrigin,
}

impl std::fmt::Debug for Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wrapper")
            .field("stage1_degree_bits", &self.stage1[0].data.common.degree_bits())
            .field("final_degree_bits", &self.last.data.common.degree_bits())
            .field("fri", &self.fri)
            .finish_non_exhaustive()
    }
}

fn register_statement(builder: &mut Builder, proof: &ProofWithPublicInputsTarget<D>) {
    builder.register_public_inputs(&proof.public_inputs[..STAGE1_PUBLIC_INPUTS]);
}

fn define_stage1_leaf(builder: &mut Builder, system: &ProofSystem) -> Stage1Targets {
    let leaf = system.common(CircuitKind::Transfer);
    let proof = builder.add_virtual_proof_with_pis(leaf);
    let is_span = builder.add_virtual_bool_target_safe();
    let transfer = constant_verifier_data(builder, &system.circuit(CircuitKind::Transfer).verifier_only);
    let span = constant_verifier_data(builder, &system.circuit(CircuitKind::Span).verifier_only);
    let verifier_data = select_verifier_data(builder, is_span, &span, &transfer);
    builder.verify_proof::<C>(&proof, &verifier_data, leaf);
    register_statement(builder, &proof);
    Stage1Targets::Leaf { proof, is_span }
}

fn define_stage1_aggregate(builder: &mut Builder, system: &ProofSystem) -> Stage1Targets {
    let shape = system.common(CircuitKind::Aggregate(Variant::ALL[0]));
    let proof = builder.add_virtual_proof_with_pis(shape);
    let left_leaf = builder.add_virtual_bool_target_safe();
    let right_leaf = builder.add_virtual_bool_target_safe();
    let aggregates: Vec<VerifierCircuitTarget> = Variant::ALL
        .iter()
        .map(|&variant| constant_verifier_data(builder, &system.circuit(CircuitKind::Aggregate(variant)).verifier_only))
        .collect();
    // Index 2 × left_leaf + right_leaf into [`Variant::ALL`], as in the aggregation circuits.
    let low = select_verifier_data(builder, right_leaf, &aggregates[1], &aggregates[0]);
    let high = select_verifier_data(builder, right_leaf, &aggregates[3], &aggregates[2]);
    let verifier_data = select_verifier_data(builder, left_leaf, &high, &low);
    // The cyclic-recursion check `ProofSystem::verify` makes on a top aggregate, here in-circuit: its
    // anchor must be the real aggregation circuits' (see the crate documentation).
    let anchor = builder.constant_hash(system.anchor());
    let claimed =
        HashOutTarget { elements: std::array::from_fn(|i| proof.public_inputs[zkcrowd_market::Statement::FIELDS + i]) };
    builder.connect_hashes(claimed, anchor);
    builder.verify_proof::<C>(&proof, &verifier_data, shape);
    register_statement(builder, &proof);
    Stage1Targets::Aggregate { proof, left_leaf, right_leaf }
}

/// Stage 2's definition: verify a stage-1 proof under either stage-1 circuit (constants, chosen by
/// a witness bit), expose its statement and a free binding. Returns the proof, the bit and the
/// binding targets.
fn define_final(
    builder: &mut Builder,
    stage1: &[Stage1; 2],
) -> (ProofWithPublicInputsTarget<D>, BoolTarget, [Target; 4]) {
    let inner = &stage1[0].data.common;
    let proof = builder.add_virtual_proof_with_pis(inner);
    let is_aggregate = builder.add_virtual_bool_target_safe();
    let leaf = constant_verifier_data(builder, &stage1[0].data.verifier_only);
    let aggregate = constant_verifier_data(builder, &stage1[1].data.verifier_only);
    let verifier_data = select_verifier_data(builder, is_aggregate, &aggregate, &leaf);
    builder.verify_proof::<C>(&proof, &verifier_data, inner);
    builder.register_public_inputs(&proof.public_inputs);
    let binding = builder.add_virtual_target_arr::<4>();
    builder.register_public_inputs(&binding);
    (proof, is_aggregate, binding)
}

/// The two stage-1 circuits' targets, defined again without building (definitions are
/// deterministic).
fn stage1_targets(system: &ProofSystem) -> [Stage1Targets; 2] {
    [false, true].map(|aggregate| {
        let mut builder = Builder::new(stage1_config());
        if aggregate { define_stage1_aggregate(&mut builder, system) } else { define_stage1_leaf(&mut builder, system) }
    })
}

fn final_targets_digest(last: &Final) -> B256 {
    keccak256(format!("{:?} {:?} {:?}", last.proof, last.is_aggregate, last.binding).as_bytes())
}

/// The wrapper cache's key: its version, plonky2's, the proof system's six circuit digests and
/// anchor (the wrapper's constants), the stage-1 configuration and targets, and the final FRI.
fn wrapper_cache_key(system: &ProofSystem, fri: &FinalFri) -> B256 {
    let digests: Vec<String> = [CircuitKind::Transfer, CircuitKind::Span]
        .into_iter()
        .chain(Variant::ALL.map(CircuitKind::Aggregate))
        .map(|kind| format!("{:?}", system.circuit(kind).verifier_only.circuit_digest))
        .collect();
    let description = format!(
        "zkcrowd wrapper v{WRAPPER_VERSION}; plonky2 1.1.0; system {digests:?} anchor {:?}; stage 1 {:?} {:?}; \
         final {fri:?}",
        system.anchor(),
        stage1_config(),
        stage1_targets(system),
    );
    keccak256(description.as_bytes())
}

/// Runs the prover, turning plonky2's errors and panics into a reason.
fn prove<Cfg: plonky2::plonk::config::GenericConfig<D, F = F>>(
    data: &CircuitData<F, Cfg, D>,
    witness: PartialWitness<F>,
) -> Result<ProofWithPublicInputs<F, Cfg, D>, ProofError> {
    match catch_unwind(AssertUnwindSafe(|| data.prove(witness))) {
        Ok(Ok(proof)) => Ok(proof),
        Ok(Err(error)) => Err(ProofError::Unsatisfied(format!("{error:#}"))),
        Err(panic) => Err(ProofError::Unsatisfied(panic_message(panic.as_ref()))),
    }
}

impl Wrapper {
    /// Builds the wrapper circuits for `system` with the chosen final FRI parameters.
    pub fn build(system: &ProofSystem) -> anyhow::Result<Self> {
        Self::build_with(system, FinalFri::chosen())
    }

    /// Builds the wrapper circuits with the final proof's FRI parameters `fri` (for measuring
    /// alternatives; the generated verifier is for [`FinalFri::chosen`]).
    pub fn build_with(system: &ProofSystem, fri: FinalFri) -> anyhow::Result<Self> {
        anyhow::ensure!(
            fri.conjectured_security_bits() >= 100,
            "{fri:?} gives {} bits of conjectured security, below 100",
            fri.conjectured_security_bits()
        );
        // Stage 1: both circuits with the union of their gates, padded to the larger degree.
        let define = |builder: &mut Builder, aggregate: bool| {
            if aggregate { define_stage1_aggregate(builder, system) } else { define_stage1_leaf(builder, system) }
        };
        let mut shapes = Vec::new();
        for aggregate in [false, true] {
            let mut builder = Builder::new(stage1_config());
            define(&mut builder, aggregate);
            shapes.push(builder.mock_build::<C>().common);
        }
        let goal = shapes.iter().max_by_key(|common| common.degree_bits()).expect("two shapes").clone();
        let mut stage1 = Vec::new();
        for aggregate in [false, true] {
            let mut builder = Builder::new(stage1_config());
            let targets = define(&mut builder, aggregate);
            for shape in &shapes {
                for gate in &shape.gates {
                    builder.add_gate_to_gate_set(gate.clone());
                }
            }
            pad_to(&mut builder, &goal);
            stage1.push(Stage1 { data: builder.build::<C>(), targets });
        }
        anyhow::ensure!(stage1[0].data.common == stage1[1].data.common, "the two stage-1 circuits differ in shape");
        let stage1: [Stage1; 2] = stage1.try_into().unwrap_or_else(|_| unreachable!("two circuits"));

        // Stage 2: verify a stage-1 proof under either circuit.
        let mut builder = Builder::new(fri.circuit_config());
        let (proof, is_aggregate, binding) = define_final(&mut builder, &stage1);
        let data = builder.build::<KeccakC>();
        let last = Final { data, proof, is_aggregate, binding };
        Self::assemble(stage1, last, fri, SystemOrigin::Built { cache_miss: "built without a cache".into() })
    }

    /// Checks the final circuit against its FRI parameters and derives its calldata shape.
    fn assemble(stage1: [Stage1; 2], last: Final, fri: FinalFri, origin: SystemOrigin) -> anyhow::Result<Self> {
        let data = &last.data;
        anyhow::ensure!(data.common.num_public_inputs == WRAP_PUBLIC_INPUTS, "the final circuit's public inputs");
        let total_arity: usize = fri.reduction_arity_bits.iter().sum();
        anyhow::ensure!(
            total_arity <= data.common.degree_bits(),
            "FRI arities {:?} fold below a constant for a 2^{}-row circuit",
            fri.reduction_arity_bits,
            data.common.degree_bits()
        );
        let shape = Shape::of(&data.common)?;
        Ok(Self { stage1, last, fri, shape, origin })
    }

    /// Loads the wrapper circuits (for [`FinalFri::chosen`]) from `cache_dir` if a cache for this
    /// code and `system` is there and intact, otherwise builds them (about 15 s of CPU) and writes
    /// the cache beside the proof system's.
    pub fn load_or_build(system: &ProofSystem, cache_dir: &Path) -> anyhow::Result<Self> {
        let fri = FinalFri::chosen();
        let key = wrapper_cache_key(system, &fri);
        let path = cache_dir.join(format!("wrapper-{}.bin", alloy::hex::encode(&key[..8])));
        let cache_miss = match std::fs::read(&path) {
            Ok(bytes) => match Self::from_cache(system, &bytes, key, fri.clone()) {
                Ok(wrapper) => return Ok(wrapper),
                Err(reason) => format!("{}: {reason}", path.display()),
            },
            Err(error) => format!("{}: {error}", path.display()),
        };
        let mut wrapper = Self::build_with(system, fri)?;
        wrapper.origin = SystemOrigin::Built { cache_miss };
        let generators = DefaultGeneratorSerializer::<C, D>::default();
        let mut sections = Vec::with_capacity(4);
        for stage1 in &wrapper.stage1 {
            sections.push(
                stage1
                    .data
                    .to_bytes(&DefaultGateSerializer, &generators)
                    .map_err(|error| anyhow::anyhow!("serializing a stage-1 circuit: {error:?}"))?,
            );
        }
        // The serializer's configuration only types its dummy-proof generator, which the final
        // circuit (no conditional recursion) does not have: the Poseidon one serves both.
        sections.push(
            wrapper
                .last
                .data
                .to_bytes(&DefaultGateSerializer, &generators)
                .map_err(|error| anyhow::anyhow!("serializing the final circuit: {error:?}"))?,
        );
        sections.push(final_targets_digest(&wrapper.last).to_vec());
        crate::cache::write(&path, &crate::cache::seal(WRAPPER_CACHE_MAGIC, key, &sections), "wrapper-")?;
        Ok(wrapper)
    }

    fn from_cache(system: &ProofSystem, bytes: &[u8], key: B256, fri: FinalFri) -> Result<Self, String> {
        let sections = crate::cache::open(bytes, WRAPPER_CACHE_MAGIC, key, 4)?;
        let generators = DefaultGeneratorSerializer::<C, D>::default();
        let mut stage1 = Vec::with_capacity(2);
        for (index, targets) in stage1_targets(system).into_iter().enumerate() {
            let data = CircuitData::from_bytes(sections[index], &DefaultGateSerializer, &generators)
                .map_err(|error| format!("a stage-1 circuit does not deserialize: {error:?}"))?;
            stage1.push(Stage1 { data, targets });
        }
        let stage1: [Stage1; 2] = stage1.try_into().unwrap_or_else(|_| unreachable!("two circuits"));
        if stage1[0].data.common != stage1[1].data.common {
            return Err("the cached stage-1 circuits differ in shape".into());
        }
        let data = CircuitData::<F, KeccakC, D>::from_bytes(sections[2], &DefaultGateSerializer, &generators)
            .map_err(|error| format!("the final circuit does not deserialize: {error:?}"))?;
        if data.common.config != fri.circuit_config() {
            return Err("the cached final circuit has other FRI parameters".into());
        }
        // The targets are not stored: defining the final circuit again (without building it) over
        // the loaded stage-1 circuits gives them; their digest must match the stored one.
        let mut builder = Builder::new(fri.circuit_config());
        let (proof, is_aggregate, binding) = define_final(&mut builder, &stage1);
        let last = Final { data, proof, is_aggregate, binding };
        if final_targets_digest(&last).as_slice() != sections[3] {
            return Err("the final circuit's definition changed".into());
        }
        Self::assemble(stage1, last, fri, SystemOrigin::Loaded).map_err(|error| format!("{error:#}"))
    }

    /// Whether these circuits were loaded from a cache or built.
    pub fn origin(&self) -> &SystemOrigin {
        &self.origin
    }

    /// The final circuit's shape (what the Solidity verifier is generated from).
    pub fn final_common(&self) -> &CommonCircuitData<F, D> {
        &self.last.data.common
    }

    /// The final circuit's verifier data.
    pub fn final_verifier(&self) -> &plonky2::plonk::circuit_data::VerifierOnlyCircuitData<KeccakC, D> {
        &self.last.data.verifier_only
    }

    /// The final proof's FRI parameters.
    pub fn fri(&self) -> &FinalFri {
        &self.fri
    }

    /// log2 of the rows of the stage-1 circuits and of the final circuit.
    pub fn degree_bits(&self) -> (usize, usize) {
        (self.stage1[0].data.common.degree_bits(), self.last.data.common.degree_bits())
    }

    /// Wraps `root`, a verified proof of a range (leaf or aggregate of `system`), for `record`:
    /// stage 1, then the final proof (plonky2's structure; [`crate::solidity::encode_proof`] gives
    /// its calldata).
    pub fn wrap(
        &self,
        system: &ProofSystem,
        root: &RealProof,
        record: &RangeRecord,
    ) -> Result<ProofWithPublicInputs<F, KeccakC, D>, ProofError> {
        let normalized = self.normalize(system, root)?;
        self.finish(&normalized, record)
    }

    /// Stage 1 of [`Self::wrap`]: verifies `root` natively, then proves it under the stage-1
    /// circuit of its kind. One normalized proof serves any number of range records.
    pub fn normalize(&self, system: &ProofSystem, root: &RealProof) -> Result<NormalizedProof, ProofError> {
        system.verify(&root.statement, &root.bytes).map_err(|reason| ProofError::Child { side: "root", reason })?;
        let (kind, proof) = system.decode(&root.bytes).map_err(|reason| ProofError::Child { side: "root", reason })?;
        Ok(NormalizedProof { proof: self.prove_stage1(kind, &proof)?, leaf: kind.is_leaf() })
    }

    /// Stage 2 of [`Self::wrap`]: the final proof over a normalized proof, bound to `record`.
    pub fn finish(
        &self,
        normalized: &NormalizedProof,
        record: &RangeRecord,
    ) -> Result<ProofWithPublicInputs<F, KeccakC, D>, ProofError> {
        self.prove_final(&normalized.proof, normalized.leaf, record.binding())
    }

    /// Stage 1 over a decoded root proof of `kind`.
    fn prove_stage1(
        &self,
        kind: CircuitKind,
        proof: &ProofWithPublicInputs<F, C, D>,
    ) -> Result<ProofWithPublicInputs<F, C, D>, ProofError> {
        let mut witness = PartialWitness::new();
        let unsatisfied = |error: anyhow::Error| ProofError::Unsatisfied(format!("{error:#}"));
        let circuit = match (kind, &self.stage1[0].targets, &self.stage1[1].targets) {
            (CircuitKind::Transfer | CircuitKind::Span, Stage1Targets::Leaf { proof: target, is_span }, _) => {
                witness.set_proof_with_pis_target(target, proof).map_err(unsatisfied)?;
                witness.set_bool_target(*is_span, kind == CircuitKind::Span).map_err(unsatisfied)?;
                &self.stage1[0]
            }
            (CircuitKind::Aggregate(variant), _, Stage1Targets::Aggregate { proof: target, left_leaf, right_leaf }) => {
                witness.set_proof_with_pis_target(target, proof).map_err(unsatisfied)?;
                witness.set_bool_target(*left_leaf, variant.left_leaf).map_err(unsatisfied)?;
                witness.set_bool_target(*right_leaf, variant.right_leaf).map_err(unsatisfied)?;
                &self.stage1[1]
            }
            _ => unreachable!("stage 1 holds the leaf circuit, then the aggregate one"),
        };
        prove(&circuit.data, witness)
    }

    /// The final proof over a stage-1 proof (`leaf`: by the leaf stage-1 circuit).
    fn prove_final(
        &self,
        stage1: &ProofWithPublicInputs<F, C, D>,
        leaf: bool,
        binding: B256,
    ) -> Result<ProofWithPublicInputs<F, KeccakC, D>, ProofError> {
        let unsatisfied = |error: anyhow::Error| ProofError::Unsatisfied(format!("{error:#}"));
        let binding = b256_to_digest(binding)
            .ok_or_else(|| ProofError::Unsatisfied("the binding is not four canonical field elements".into()))?;
        let mut witness = PartialWitness::new();
        witness.set_proof_with_pis_target(&self.last.proof, stage1).map_err(unsatisfied)?;
        witness.set_bool_target(self.last.is_aggregate, !leaf).map_err(unsatisfied)?;
        witness.set_target_arr(&self.last.binding, &binding.elements).map_err(unsatisfied)?;
        prove(&self.last.data, witness)
    }

    /// plonky2's verdict on a final proof and its public inputs (the reference the L1 verifier is
    /// tested against).
    pub fn verify(&self, proof: &ProofWithPublicInputs<F, KeccakC, D>) -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(|| self.last.data.verify(proof.clone()))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("the wrapped proof does not verify: {error}")),
            Err(panic) => Err(format!("verification failed: {}", panic_message(panic.as_ref()))),
        }
    }

    /// Wraps `root` for `record` and returns the final proof's **calldata** (the bytes
    /// `Rollup.submitRange` passes to the verifier, and a plugin submits to the market).
    pub fn wrap_calldata(
        &self,
        system: &ProofSystem,
        root: &RealProof,
        record: &RangeRecord,
    ) -> Result<Vec<u8>, ProofError> {
        let proof = self.wrap(system, root, record)?;
        encode_proof(&self.shape, &proof).map_err(|error| ProofError::Unsatisfied(format!("encoding: {error}")))
    }

    /// Whether calldata `bytes` is a final proof of `inputs`: decoded under the final circuit's
    /// layout with these public inputs, then plonky2's verifier (the L1 verifier's reference).
    pub fn verify_calldata(&self, bytes: &[u8], inputs: &WrapInputs) -> Result<(), String> {
        let fields = inputs.to_fields().ok_or("a public input is not canonical")?;
        let proof = decode_proof(&self.shape, bytes, fields.to_vec()).map_err(|error| error.to_string())?;
        self.verify(&proof)
    }

    /// The public inputs of a final proof as the L1 takes them (`None` if not 16 of them).
    pub fn inputs_of(proof: &ProofWithPublicInputs<F, KeccakC, D>) -> Option<WrapInputs> {
        WrapInputs::from_fields(&proof.public_inputs)
    }
}

/// The market's verifier when the L1 verifies wrapped proofs: [`RealVerifier`] for every job, and
/// for a `Wrap` job's real proof the final proof's calldata, verified by [`Wrapper::verify_calldata`]
/// against the job's roots and commitment and the binding of its record with the prover.
#[derive(Debug, Clone)]
pub struct WrappingVerifier {
    /// The verifier of the other jobs.
    pub real: RealVerifier,
    /// The wrapper circuits.
    pub wrapper: Arc<Wrapper>,
}

impl ProofVerifier for WrappingVerifier {
    fn verify(&self, statement: &Statement, proof: &ProofData) -> Result<ProofKind, String> {
        self.real.verify(statement, proof)
    }

    fn verify_wrap(&self, statement: &Statement, record: &WrapRecord, proof: &ProofData) -> Result<ProofKind, String> {
        let ProofData::Real(bytes) = proof else {
            return ModeledVerifier.verify(statement, proof);
        };
        let record = RangeRecord {
            chain_id: record.chain_id,
            first_block: record.first_block,
            last_block: record.last_block,
            prover: statement.prover,
        };
        let inputs = WrapInputs {
            pre_root: digest_to_b256(statement.pre_root),
            post_root: digest_to_b256(statement.post_root),
            commitment: digest_to_b256(statement.commitment),
            binding: record.binding(),
        };
        self.wrapper.verify_calldata(bytes, &inputs).map(|()| ProofKind::Real)
    }
}
