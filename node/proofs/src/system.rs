//! [`ProofSystem`]: the six circuits (transfer, span, four aggregation variants) built or loaded
//! from a cache, proving and verification.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{Address, B256, keccak256};
use plonky2::field::types::{Field64, PrimeField64};
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::circuit_data::{CircuitData, CommonCircuitData, VerifierOnlyCircuitData};
use plonky2::plonk::config::Hasher as _;
use plonky2::plonk::proof::ProofWithPublicInputs;
use plonky2::util::serialization::{Buffer, DefaultGateSerializer, DefaultGeneratorSerializer, Read, Remaining};
use zkcrowd_ledger::{ACCOUNT_TREE_DEPTH, Digest, F, digest_to_b256};
use zkcrowd_market::{ModeledVerifier, ProofData, ProofKind, ProofVerifier, Statement, combine_commitments};

use crate::circuits::{
    AGGREGATE_PUBLIC_INPUTS, AggregateTargets, ChildProof, LEAF_PUBLIC_INPUTS, SpanTargets, TransferTargets, Variant,
    define_aggregate, define_span, define_transfer,
};
use crate::gadgets::Builder;
use crate::shape::{aggregate_shape, config, leaf_shape, pad_to};
use crate::witness::{SPAN_CALLS_MAX, SpanWitness, TransferWitness, WitnessError};
use crate::{C, D};

/// Version of the circuits: bump it with any change to a circuit, so that caches built by older
/// code are not loaded (the cache key also covers the leaf circuits' definitions).
pub const CIRCUIT_VERSION: u32 = 2;

/// Largest proof accepted for decoding, in bytes (real proofs are about 130 KB).
pub const PROOF_BYTES_MAX: usize = 1 << 20;

const CACHE_MAGIC: &[u8; 8] = b"ZKCPRF\0\x03";

/// Which circuit proved a proof: the first byte of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitKind {
    /// The transfer circuit (a tx job).
    Transfer,
    /// The market-call span circuit (a system job).
    Span,
    /// An aggregation circuit: the variant for its children's kinds.
    Aggregate(Variant),
}

impl CircuitKind {
    /// The identifying byte: 0 transfer, 1 span, `2 + variant index` for an aggregate.
    pub fn byte(self) -> u8 {
        match self {
            Self::Transfer => 0,
            Self::Span => 1,
            Self::Aggregate(variant) => 2 + variant.index() as u8,
        }
    }

    /// The kind a byte identifies.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Transfer),
            1 => Some(Self::Span),
            2..=5 => Some(Self::Aggregate(Variant::ALL[usize::from(byte - 2)])),
            _ => None,
        }
    }

    /// Whether a transfer or span circuit (the leaf shape).
    pub fn is_leaf(self) -> bool {
        !matches!(self, Self::Aggregate(_))
    }
}

impl fmt::Display for CircuitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transfer => f.write_str("transfer"),
            Self::Span => f.write_str("span"),
            Self::Aggregate(variant) => write!(f, "aggregate {variant}"),
        }
    }
}

/// A real proof and the statement it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealProof {
    /// The statement (equal to the proof's public inputs).
    pub statement: Statement,
    /// [`CircuitKind::byte`], then plonky2's `ProofWithPublicInputs::to_bytes()`. Not
    /// deterministic: plonky2 randomizes proofs.
    pub bytes: Vec<u8>,
}

impl RealProof {
    /// The circuit that proved it, if the first byte names one.
    pub fn kind(&self) -> Option<CircuitKind> {
        self.bytes.first().copied().and_then(CircuitKind::from_byte)
    }
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The witness breaks a rule (found by the native check, before proving).
    #[error("inconsistent witness: {0}")]
    Witness(#[from] WitnessError),
    /// A child of an aggregate does not verify against its own statement.
    #[error("the {side} child does not verify: {reason}")]
    Child {
        /// `"left"` or `"right"`.
        side: &'static str,
        /// The verifier's reason.
        reason: String,
    },
    /// The children of an aggregate do not chain (`left.post_root != right.pre_root`).
    #[error("the children are not adjacent: the left one ends at {left_post}, the right one starts at {right_pre}")]
    NotAdjacent {
        /// The left child's post root.
        left_post: B256,
        /// The right child's pre root.
        right_pre: B256,
    },
    /// The circuit refused the witness (witness generation failed, or the proof it produced does
    /// not verify).
    #[error("the circuit refuses the witness: {0}")]
    Unsatisfied(String),
}

/// How circuits came to be (a [`ProofSystem`] or a [`crate::Wrapper`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemOrigin {
    /// Loaded from the cache.
    Loaded,
    /// Built, then written to the cache; `cache_miss` says why the cache was not used.
    Built {
        /// Why no cached system was loaded.
        cache_miss: String,
    },
}

struct Circuit<T> {
    data: CircuitData<F, C, D>,
    targets: T,
}

/// The transfer, span and four aggregation circuits, ready to prove and verify.
///
/// Building costs a few seconds and ~300 MB of prover data, so [`Self::load_or_build`] caches
/// it on disk. Share one system (it is `Send + Sync`; [`RealVerifier`] holds it in an `Arc`).
pub struct ProofSystem {
    transfer: Circuit<TransferTargets>,
    span: Circuit<SpanTargets>,
    /// In [`Variant::ALL`] order.
    aggregates: [Circuit<AggregateTargets>; 4],
    /// The hash of the four aggregation circuits' verifier data, which every aggregate exposes.
    anchor: HashOut<F>,
    origin: SystemOrigin,
}

impl fmt::Debug for ProofSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofSystem")
            .field("leaf_degree_bits", &self.leaf_degree_bits())
            .field("aggregate_degree_bits", &self.aggregate_degree_bits())
            .field("anchor", &self.anchor)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Runs the prover, turning plonky2's errors and panics (some generators assert) into a reason.
fn run_prover(
    data: &CircuitData<F, C, D>,
    witness: plonky2::iop::witness::PartialWitness<F>,
) -> Result<ProofWithPublicInputs<F, C, D>, ProofError> {
    match catch_unwind(AssertUnwindSafe(|| data.prove(witness))) {
        Ok(Ok(proof)) => Ok(proof),
        Ok(Err(error)) => Err(ProofError::Unsatisfied(format!("{error:#}"))),
        Err(panic) => Err(ProofError::Unsatisfied(panic_message(panic.as_ref()))),
    }
}

fn encode(kind: CircuitKind, proof: &ProofWithPublicInputs<F, C, D>) -> Vec<u8> {
    let mut bytes = vec![kind.byte()];
    bytes.extend(proof.to_bytes());
    bytes
}

/// Reads the 19 statement inputs back into a [`Statement`]; fails on limbs that are not 32-bit.
fn statement_from_public_inputs(inputs: &[F]) -> Result<Statement, String> {
    if inputs.len() < Statement::FIELDS {
        return Err(format!("{} public inputs, a statement has {}", inputs.len(), Statement::FIELDS));
    }
    let digest = |from: usize| Digest { elements: std::array::from_fn(|i| inputs[from + i]) };
    let limb = |i: usize| -> Result<u32, String> {
        u32::try_from(inputs[i].to_canonical_u64()).map_err(|_| format!("public input {i} is not a 32-bit limb"))
    };
    let job_id = (u64::from(limb(12)?) << 32) | u64::from(limb(13)?);
    let mut prover = [0u8; 20];
    for (i, chunk) in prover.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&limb(14 + i)?.to_be_bytes());
    }
    Ok(Statement {
        pre_root: digest(0),
        post_root: digest(4),
        commitment: digest(8),
        job_id,
        prover: Address::from(prover),
    })
}

/// Names of the statement's public inputs, for verdicts.
fn input_name(index: usize) -> &'static str {
    match index {
        0..4 => "pre root",
        4..8 => "post root",
        8..12 => "commitment",
        12..14 => "job id",
        _ => "prover",
    }
}

/// Verifier data as fields: circuit digest, then the cap (the circuits' order).
fn verifier_data_fields(data: &VerifierOnlyCircuitData<C, D>) -> Vec<F> {
    let mut fields = data.circuit_digest.elements.to_vec();
    for digest in &data.constants_sigmas_cap.0 {
        fields.extend(digest.elements);
    }
    fields
}

/// The anchor every aggregate exposes: Poseidon over the four aggregation circuits' verifier data.
fn anchor_of(aggregates: &[Circuit<AggregateTargets>; 4]) -> HashOut<F> {
    let fields: Vec<F> =
        aggregates.iter().flat_map(|circuit| verifier_data_fields(&circuit.data.verifier_only)).collect();
    PoseidonHash::hash_no_pad(&fields)
}

/// The cache key: circuit version, plonky2 version, configuration, and the transfer and span
/// circuits' definitions (their gate counts and targets). Costs two circuit definitions, no build.
fn cache_key() -> B256 {
    let mut transfer = Builder::new(config());
    let transfer_targets = define_transfer(&mut transfer);
    let mut span = Builder::new(config());
    let span_targets = define_span(&mut span);
    let description = format!(
        "zkcrowd-proofs circuits v{CIRCUIT_VERSION}; plonky2 1.1.0; depth {ACCOUNT_TREE_DEPTH}; span {SPAN_CALLS_MAX}; \
         {:?}; transfer {} gates {transfer_targets:?}; span {} gates {span_targets:?}",
        config(),
        transfer.num_gates(),
        span.num_gates(),
    );
    keccak256(description.as_bytes())
}

fn cache_path(cache_dir: &Path, key: B256) -> PathBuf {
    cache_dir.join(format!("proof-system-{}.bin", alloy::hex::encode(&key[..8])))
}

fn aggregate_targets_digest<'a>(targets: impl Iterator<Item = &'a AggregateTargets>) -> B256 {
    let described: Vec<String> = targets.map(|targets| format!("{targets:?}")).collect();
    keccak256(described.concat().as_bytes())
}

impl ProofSystem {
    /// Loads the circuits from `cache_dir` if a cache for this code is there and intact, otherwise
    /// builds them (a few seconds on two cores) and writes the cache, replacing a stale or broken one.
    pub fn load_or_build(cache_dir: &Path) -> anyhow::Result<Self> {
        let key = cache_key();
        let path = cache_path(cache_dir, key);
        let cache_miss = match std::fs::read(&path) {
            Ok(bytes) => match Self::from_cache(&bytes, key) {
                Ok(system) => return Ok(system),
                Err(reason) => format!("{}: {reason}", path.display()),
            },
            Err(error) => format!("{}: {error}", path.display()),
        };
        let mut system = Self::build()?;
        system.origin = SystemOrigin::Built { cache_miss };
        crate::cache::write(&path, &system.to_cache(key)?, "proof-system-")?;
        Ok(system)
    }

    /// Builds the six circuits from scratch (no cache).
    pub fn build() -> anyhow::Result<Self> {
        let leaf = leaf_shape();
        let mut builder = Builder::new(config());
        let transfer_targets = define_transfer(&mut builder);
        pad_to(&mut builder, &leaf);
        let transfer = builder.build::<C>();
        anyhow::ensure!(transfer.common == leaf, "the transfer circuit does not fit the leaf shape");

        let mut builder = Builder::new(config());
        let span_targets = define_span(&mut builder);
        pad_to(&mut builder, &leaf);
        let span = builder.build::<C>();
        anyhow::ensure!(span.common == leaf, "the span circuit does not fit the leaf shape");

        let shape = aggregate_shape(&leaf)?;
        let mut aggregates = Vec::with_capacity(4);
        for variant in Variant::ALL {
            let mut builder = Builder::new(config());
            let targets =
                define_aggregate(&mut builder, variant, &leaf, &shape, &transfer.verifier_only, &span.verifier_only);
            pad_to(&mut builder, &shape);
            let data = builder.build::<C>();
            anyhow::ensure!(data.common == shape, "the aggregation circuit {variant} does not fit the aggregate shape");
            aggregates.push(Circuit { data, targets });
        }
        let aggregates: [Circuit<AggregateTargets>; 4] =
            aggregates.try_into().unwrap_or_else(|_| unreachable!("four variants"));
        Ok(Self {
            transfer: Circuit { data: transfer, targets: transfer_targets },
            span: Circuit { data: span, targets: span_targets },
            anchor: anchor_of(&aggregates),
            aggregates,
            origin: SystemOrigin::Built { cache_miss: "built without a cache".into() },
        })
    }

    /// Cache file (`crate::cache`): six sections of `CircuitData::to_bytes`, then the digest of
    /// the aggregation circuits' targets.
    fn to_cache(&self, key: B256) -> anyhow::Result<Vec<u8>> {
        let generators = DefaultGeneratorSerializer::<C, D>::default();
        let mut sections = Vec::with_capacity(7);
        for (kind, data) in self.circuits() {
            sections.push(
                data.to_bytes(&DefaultGateSerializer, &generators)
                    .map_err(|error| anyhow::anyhow!("serializing the {kind} circuit: {error:?}"))?,
            );
        }
        sections.push(aggregate_targets_digest(self.aggregates.iter().map(|c| &c.targets)).to_vec());
        Ok(crate::cache::seal(CACHE_MAGIC, key, &sections))
    }

    fn from_cache(bytes: &[u8], key: B256) -> Result<Self, String> {
        let sections = crate::cache::open(bytes, CACHE_MAGIC, key, 7)?;
        let generators = DefaultGeneratorSerializer::<C, D>::default();
        let read_circuit = |index: usize, kind: &str| -> Result<CircuitData<F, C, D>, String> {
            CircuitData::from_bytes(sections[index], &DefaultGateSerializer, &generators)
                .map_err(|error| format!("the {kind} circuit does not deserialize: {error:?}"))
        };
        let transfer = read_circuit(0, "transfer")?;
        let span = read_circuit(1, "span")?;
        let mut aggregates = Vec::with_capacity(4);
        for (index, variant) in Variant::ALL.iter().enumerate() {
            aggregates.push(read_circuit(2 + index, &format!("aggregate {variant}"))?);
        }
        let (leaf, shape) = (&transfer.common, &aggregates[0].common);
        if &span.common != leaf || leaf.num_public_inputs != LEAF_PUBLIC_INPUTS {
            return Err("the cached leaf circuits do not share one shape".into());
        }
        if aggregates.iter().any(|data| &data.common != shape) || shape.num_public_inputs != AGGREGATE_PUBLIC_INPUTS {
            return Err("the cached aggregation circuits do not share one shape".into());
        }
        // The targets are not stored: the definitions are deterministic, so defining the circuits
        // again (without building them) gives the same targets. The key covers the leaf circuits'
        // definitions; the aggregation circuits' targets are checked against their stored digest.
        let mut builder = Builder::new(config());
        let transfer_targets = define_transfer(&mut builder);
        let mut builder = Builder::new(config());
        let span_targets = define_span(&mut builder);
        let aggregate_targets: Vec<AggregateTargets> = Variant::ALL
            .iter()
            .map(|&variant| {
                let mut builder = Builder::new(config());
                define_aggregate(&mut builder, variant, leaf, shape, &transfer.verifier_only, &span.verifier_only)
            })
            .collect();
        if aggregate_targets_digest(aggregate_targets.iter()).as_slice() != sections[6] {
            return Err("the aggregation circuits' definition changed".into());
        }
        let aggregates: [Circuit<AggregateTargets>; 4] = aggregates
            .into_iter()
            .zip(aggregate_targets)
            .map(|(data, targets)| Circuit { data, targets })
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_else(|_| unreachable!("four variants"));
        Ok(Self {
            transfer: Circuit { data: transfer, targets: transfer_targets },
            span: Circuit { data: span, targets: span_targets },
            anchor: anchor_of(&aggregates),
            aggregates,
            origin: SystemOrigin::Loaded,
        })
    }

    fn circuits(&self) -> impl Iterator<Item = (CircuitKind, &CircuitData<F, C, D>)> {
        [(CircuitKind::Transfer, &self.transfer.data), (CircuitKind::Span, &self.span.data)].into_iter().chain(
            Variant::ALL
                .iter()
                .map(|&variant| (CircuitKind::Aggregate(variant), &self.aggregates[variant.index()].data)),
        )
    }

    pub(crate) fn circuit(&self, kind: CircuitKind) -> &CircuitData<F, C, D> {
        match kind {
            CircuitKind::Transfer => &self.transfer.data,
            CircuitKind::Span => &self.span.data,
            CircuitKind::Aggregate(variant) => &self.aggregates[variant.index()].data,
        }
    }

    /// The shape of a kind's proofs.
    pub(crate) fn common(&self, kind: CircuitKind) -> &CommonCircuitData<F, D> {
        &self.circuit(kind).common
    }

    /// The hash of the four aggregation circuits' verifier data that every aggregate exposes.
    pub(crate) fn anchor(&self) -> HashOut<F> {
        self.anchor
    }

    /// Whether this system was loaded or built.
    pub fn origin(&self) -> &SystemOrigin {
        &self.origin
    }

    /// log2 of the rows of the transfer and span circuits (they share one shape).
    pub fn leaf_degree_bits(&self) -> usize {
        self.transfer.data.common.degree_bits()
    }

    /// log2 of the rows of the aggregation circuits (they share one shape).
    pub fn aggregate_degree_bits(&self) -> usize {
        self.aggregates[0].data.common.degree_bits()
    }

    /// Proves a transfer after checking the witness natively.
    pub fn prove_transfer(
        &self,
        transfer: &TransferWitness,
        job_id: u64,
        prover: Address,
    ) -> Result<RealProof, ProofError> {
        let statement = transfer.statement(job_id, prover)?;
        let proof = self.prove_transfer_unchecked(transfer, job_id, prover)?;
        self.checked(statement, proof)
    }

    /// Runs the transfer circuit on the witness with no native check: the circuit alone decides.
    /// For adversarial tests; the proof's statement is read from its public inputs and the proof
    /// is returned unverified.
    pub fn prove_transfer_unchecked(
        &self,
        transfer: &TransferWitness,
        job_id: u64,
        prover: Address,
    ) -> Result<RealProof, ProofError> {
        let assignment = transfer.assignment()?;
        let witness = self
            .transfer
            .targets
            .assign(transfer, &assignment, job_id, prover)
            .map_err(|error| ProofError::Unsatisfied(format!("{error:#}")))?;
        self.finish(CircuitKind::Transfer, witness)
    }

    /// Proves a span of market calls after checking the witness natively.
    pub fn prove_span(&self, span: &SpanWitness, job_id: u64, prover: Address) -> Result<RealProof, ProofError> {
        let statement = span.statement(job_id, prover)?;
        let proof = self.prove_span_unchecked(span, job_id, prover)?;
        self.checked(statement, proof)
    }

    /// [`Self::prove_span`] without the native check (see [`Self::prove_transfer_unchecked`]).
    pub fn prove_span_unchecked(
        &self,
        span: &SpanWitness,
        job_id: u64,
        prover: Address,
    ) -> Result<RealProof, ProofError> {
        span.check_length()?;
        let witness = self
            .span
            .targets
            .assign(span, job_id, prover)
            .map_err(|error| ProofError::Unsatisfied(format!("{error:#}")))?;
        self.finish(CircuitKind::Span, witness)
    }

    /// Proves the aggregate of two adjacent proofs (transfer, span or aggregate, in any mix),
    /// after verifying both and checking that they chain.
    pub fn prove_aggregate(
        &self,
        left: &RealProof,
        right: &RealProof,
        job_id: u64,
        prover: Address,
    ) -> Result<RealProof, ProofError> {
        for (side, child) in [("left", left), ("right", right)] {
            self.verify(&child.statement, &child.bytes).map_err(|reason| ProofError::Child { side, reason })?;
        }
        if left.statement.post_root != right.statement.pre_root {
            return Err(ProofError::NotAdjacent {
                left_post: digest_to_b256(left.statement.post_root),
                right_pre: digest_to_b256(right.statement.pre_root),
            });
        }
        let statement = Statement {
            pre_root: left.statement.pre_root,
            post_root: right.statement.post_root,
            commitment: combine_commitments(left.statement.commitment, right.statement.commitment),
            job_id,
            prover,
        };
        let proof = self.prove_aggregate_unchecked(left, right, job_id, prover)?;
        self.checked(statement, proof)
    }

    /// [`Self::prove_aggregate`] without the native checks (see [`Self::prove_transfer_unchecked`]):
    /// the children are only decoded.
    pub fn prove_aggregate_unchecked(
        &self,
        left: &RealProof,
        right: &RealProof,
        job_id: u64,
        prover: Address,
    ) -> Result<RealProof, ProofError> {
        let (left_kind, left_proof) =
            self.decode(&left.bytes).map_err(|reason| ProofError::Child { side: "left", reason })?;
        let (right_kind, right_proof) =
            self.decode(&right.bytes).map_err(|reason| ProofError::Child { side: "right", reason })?;
        let child = |kind: CircuitKind, proof| match kind {
            CircuitKind::Transfer => ChildProof::Leaf { is_span: false, proof },
            CircuitKind::Span => ChildProof::Leaf { is_span: true, proof },
            CircuitKind::Aggregate(variant) => ChildProof::Aggregate { variant, proof },
        };
        let variant = Variant { left_leaf: left_kind.is_leaf(), right_leaf: right_kind.is_leaf() };
        let verifier_data = self.aggregates.each_ref().map(|circuit| circuit.data.verifier_only.clone());
        let witness = self.aggregates[variant.index()]
            .targets
            .assign([child(left_kind, &left_proof), child(right_kind, &right_proof)], &verifier_data, job_id, prover)
            .map_err(|error| ProofError::Unsatisfied(format!("{error:#}")))?;
        self.finish(CircuitKind::Aggregate(variant), witness)
    }

    fn finish(
        &self,
        kind: CircuitKind,
        witness: plonky2::iop::witness::PartialWitness<F>,
    ) -> Result<RealProof, ProofError> {
        let proof = run_prover(self.circuit(kind), witness)?;
        let statement = statement_from_public_inputs(&proof.public_inputs).map_err(ProofError::Unsatisfied)?;
        Ok(RealProof { statement, bytes: encode(kind, &proof) })
    }

    /// A proof from the circuit must prove the natively computed statement and verify; anything
    /// else is a disagreement between the native rules and the circuit.
    fn checked(&self, statement: Statement, proof: RealProof) -> Result<RealProof, ProofError> {
        if proof.statement != statement {
            return Err(ProofError::Unsatisfied(format!(
                "the circuit proved {:?}, the native rules give {statement:?}",
                proof.statement
            )));
        }
        self.verify(&statement, &proof.bytes).map_err(ProofError::Unsatisfied)?;
        Ok(proof)
    }

    /// Decodes a proof: its circuit and plonky2 proof (no verification).
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<(CircuitKind, ProofWithPublicInputs<F, C, D>), String> {
        if bytes.len() > PROOF_BYTES_MAX {
            return Err(format!("a proof of {} bytes, above the {PROOF_BYTES_MAX}-byte limit", bytes.len()));
        }
        let (&id, rest) = bytes.split_first().ok_or("an empty proof")?;
        let kind = CircuitKind::from_byte(id).ok_or_else(|| format!("unknown circuit id {id}"))?;
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            let mut buffer = Buffer::new(rest);
            let proof = buffer.read_proof_with_public_inputs::<F, C, D>(self.common(kind));
            (proof, buffer.remaining())
        }));
        match decoded {
            Ok((Ok(proof), 0)) => Ok((kind, proof)),
            Ok((Ok(_), trailing)) => Err(format!("{trailing} bytes after the proof")),
            Ok((Err(_), _)) => Err("malformed proof bytes".into()),
            Err(panic) => Err(format!("malformed proof bytes: {}", panic_message(panic.as_ref()))),
        }
    }

    /// The statement a proof claims (its public inputs), without verifying it.
    pub fn claimed_statement(&self, bytes: &[u8]) -> Result<Statement, String> {
        let (_, proof) = self.decode(bytes)?;
        statement_from_public_inputs(&proof.public_inputs)
    }

    /// Whether `bytes` is a proof, by one of these circuits, of exactly `statement`. The verdict is
    /// deterministic; the reason names the first thing wrong.
    ///
    /// Checks, in order: the encoding; the 19 statement inputs; for an aggregate, the anchor input
    /// (it must be the hash of the real aggregation circuits' verifier data, the cyclic-recursion
    /// check); the plonky2 proof under the circuit the first byte names.
    pub fn verify(&self, statement: &Statement, bytes: &[u8]) -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(|| self.verify_inner(statement, bytes))) {
            Ok(verdict) => verdict,
            Err(panic) => Err(format!("verification failed: {}", panic_message(panic.as_ref()))),
        }
    }

    fn verify_inner(&self, statement: &Statement, bytes: &[u8]) -> Result<(), String> {
        let (kind, proof) = self.decode(bytes)?;
        let inputs = &proof.public_inputs;
        let expected_inputs = if kind.is_leaf() { LEAF_PUBLIC_INPUTS } else { AGGREGATE_PUBLIC_INPUTS };
        if inputs.len() != expected_inputs {
            return Err(format!("{} public inputs, expected {expected_inputs}", inputs.len()));
        }
        for (i, (found, expected)) in inputs.iter().zip(statement.to_fields()).enumerate() {
            if *found != expected {
                return Err(format!("public input {i} ({}) is {found}, the statement has {expected}", input_name(i)));
            }
        }
        if !kind.is_leaf() && inputs[Statement::FIELDS..] != self.anchor.elements {
            return Err(format!("the {kind} proof claims aggregation circuits other than these"));
        }
        self.circuit(kind).verify(proof).map_err(|error| format!("the {kind} proof does not verify: {error}"))
    }
}

/// The market's verifier with real proofs: [`ProofData::Real`] bytes are verified by the
/// [`ProofSystem`]; every other kind of proof goes to [`ModeledVerifier`].
#[derive(Debug, Clone)]
pub struct RealVerifier(pub Arc<ProofSystem>);

impl ProofVerifier for RealVerifier {
    fn verify(&self, statement: &Statement, proof: &ProofData) -> Result<ProofKind, String> {
        match proof {
            ProofData::Real(bytes) => self.0.verify(statement, bytes).map(|()| ProofKind::Real),
            other => ModeledVerifier.verify(statement, other),
        }
    }
}

/// A copy of `bytes` (a proof of these circuits) with public input `index` changed (plus one, mod
/// p), for adversarial tests: the result must not verify.
///
/// # Panics
/// If `bytes` is not a proof of these circuits (their public inputs close the encoding, after
/// their count) or `index` is not below its number of public inputs.
pub fn tamper_public_input(bytes: &[u8], index: usize) -> Vec<u8> {
    let count_at = |inputs: usize| bytes.len().checked_sub(8 * inputs + 8);
    let (inputs, inputs_at) = [LEAF_PUBLIC_INPUTS, AGGREGATE_PUBLIC_INPUTS]
        .into_iter()
        .find_map(|inputs| {
            let at = count_at(inputs)?;
            let count = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
            (count == inputs as u64).then_some((inputs, at + 8))
        })
        .expect("a proof of these circuits");
    assert!(index < inputs, "public input {index} of {inputs}");
    let at = inputs_at + 8 * index;
    let value = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let tampered = if value + 1 >= F::ORDER { 0 } else { value + 1 };
    let mut out = bytes.to_vec();
    out[at..at + 8].copy_from_slice(&tampered.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use plonky2::field::types::Field;
    use plonky2::iop::witness::{PartialWitness, WitnessWrite};
    use zkcrowd_ledger::{AccountLeaf, AccountLedger};

    use super::*;

    /// The cyclic-recursion anchor is enforced in-circuit: a forged "aggregate" (a circuit of the
    /// aggregate shape that checks nothing and claims the real anchor) makes valid plonky2 proofs of
    /// any statement, but the verifier refuses them under every variant id, and no real aggregation
    /// circuit accepts one as a child.
    #[test]
    fn forged_aggregate_is_refused() {
        let system = ProofSystem::build().unwrap();
        let prover = Address::repeat_byte(0xaa);
        let mut ledger = AccountLedger::new();
        for byte in 1..=2 {
            ledger.upsert(AccountLeaf { address: Address::with_last_byte(byte), nonce: 0, balance: 1 << 60 }).unwrap();
        }
        let (sender, receiver) =
            (*ledger.get(&Address::with_last_byte(1)).unwrap(), *ledger.get(&Address::with_last_byte(2)).unwrap());
        let first =
            ledger.upsert_recorded(AccountLeaf { nonce: 1, balance: sender.balance - 22_000, ..sender }).unwrap();
        let second = ledger.upsert_recorded(AccountLeaf { balance: receiver.balance + 1_000, ..receiver }).unwrap();
        let witness = TransferWitness {
            tx_hash: B256::repeat_byte(1),
            value_wei: 1_000,
            fee_wei: 21_000,
            writes: [first, second],
        };
        let leaf = system.prove_transfer(&witness, 1, prover).unwrap();

        let shape = system.common(CircuitKind::Aggregate(Variant::ALL[0])).clone();
        let mut builder = Builder::new(config());
        let inputs = builder.add_virtual_targets(AGGREGATE_PUBLIC_INPUTS);
        builder.register_public_inputs(&inputs);
        // The real circuits keep their constants in random-access gates' spare slots (the shape has
        // no constant gate): give the forgery a few of those too.
        let index = builder.add_virtual_target();
        for _ in 0..4 {
            builder.random_access(index, inputs[..16].to_vec());
        }
        pad_to(&mut builder, &shape);
        let forged = builder.build::<C>();
        assert_eq!(forged.common, shape, "the forgery has the aggregate shape");
        // A lie: from the transfer's post root to a root of the forger's choosing.
        let claim = Statement {
            pre_root: leaf.statement.post_root,
            post_root: Digest { elements: [F::from_canonical_u64(7); 4] },
            commitment: Digest { elements: [F::from_canonical_u64(9); 4] },
            job_id: 2,
            prover,
        };
        // A valid proof of the forgery: `claim` and `anchor` as its public inputs.
        let prove_forged = |anchor: HashOut<F>| {
            let mut values = claim.to_fields().to_vec();
            values.extend(anchor.elements);
            let mut witness = PartialWitness::new();
            witness.set_target_arr(&inputs, &values).unwrap();
            witness.set_target(index, F::ZERO).unwrap();
            let proof = forged.prove(witness).unwrap();
            forged.verify(proof.clone()).unwrap();
            proof
        };
        let proof = prove_forged(system.anchor);

        for variant in Variant::ALL {
            let child = RealProof { statement: claim, bytes: encode(CircuitKind::Aggregate(variant), &proof) };
            let verdict = system.verify(&claim, &child.bytes).unwrap_err();
            assert!(verdict.contains("does not verify"), "{verdict}");
            match system.prove_aggregate_unchecked(&leaf, &child, 3, prover) {
                Err(ProofError::Unsatisfied(_)) => {}
                Err(other) => panic!("unexpected error {other}"),
                Ok(aggregate) => assert!(
                    system.verify(&aggregate.statement, &aggregate.bytes).is_err(),
                    "an aggregate over a forged {variant} child verified"
                ),
            }
        }

        // The anchor is what ties the witnessed verifier data to the real circuits: a prover who
        // slips the forgery's verifier data in among the four (its child claiming the matching
        // anchor) gets a valid proof of the real (leaf, aggregate) circuit, which the verifier
        // refuses for its anchor.
        let mut fake = system.aggregates.each_ref().map(|circuit| circuit.data.verifier_only.clone());
        fake[0] = forged.verifier_only.clone();
        let fake_anchor = PoseidonHash::hash_no_pad(&fake.iter().flat_map(verifier_data_fields).collect::<Vec<_>>());
        let forged_child = prove_forged(fake_anchor);
        let (_, leaf_proof) = system.decode(&leaf.bytes).unwrap();
        let variant = Variant { left_leaf: true, right_leaf: false };
        let circuit = &system.aggregates[variant.index()];
        let children = [
            ChildProof::Leaf { is_span: false, proof: &leaf_proof },
            ChildProof::Aggregate { variant: Variant::ALL[0], proof: &forged_child },
        ];
        let witness = circuit.targets.assign(children, &fake, 4, prover).unwrap();
        let aggregate = run_prover(&circuit.data, witness).unwrap();
        circuit.data.verify(aggregate.clone()).unwrap();
        let statement = statement_from_public_inputs(&aggregate.public_inputs).unwrap();
        assert_eq!(statement.post_root, claim.post_root, "the lie reached the aggregate");
        let verdict = system.verify(&statement, &encode(CircuitKind::Aggregate(variant), &aggregate)).unwrap_err();
        assert!(verdict.contains("aggregation circuits other than these"), "{verdict}");
    }
}
