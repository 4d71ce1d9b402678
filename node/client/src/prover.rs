//! The plugin's prover: turns a job's inputs, as its validator serves them
//! ([`zkcrowd_protocol::JobInputs`]), into the real proof the chain verifies, with the plonky2
//! circuits of `zkcrowd-proofs`. A host calls it off its event loop (proving takes seconds); what
//! comes back is submitted like any proof ([`crate::Event::ProofReady`]).

use alloy::primitives::Address;
use zkcrowd_market::JobId;
use zkcrowd_proofs::{
    CallWitness, ProofError, ProofSystem, RangeRecord, RealProof, SpanWitness, TransferWitness, Wrapper,
};
use zkcrowd_protocol::JobInputs;

/// A job's real proof, or a range's wrapped proof (as the calldata the L1 verifier takes).
#[derive(Debug, Clone)]
pub enum Proven {
    /// A leaf or aggregate proof (circuit byte, then plonky2's encoding).
    Job(RealProof),
    /// A wrapped range proof, as calldata.
    Wrapped(Vec<u8>),
}

impl Proven {
    /// The bytes a proof submission carries as its sidecar.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Job(proof) => proof.bytes,
            Self::Wrapped(calldata) => calldata,
        }
    }
}

/// Why a job's inputs gave no proof. Deterministic (the inputs are): a prover bug, or inputs a
/// circuit refuses.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// A wrap job, and no wrapper to prove it with.
    #[error("a wrap job needs the wrapper circuits, which are not built")]
    NoWrapper,
    /// A child proof (of an aggregate or a wrap) is not one of the system's proofs.
    #[error("a child proof does not parse: {0}")]
    Child(String),
    /// Proving failed (a witness the native check refuses, an unsatisfied circuit).
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Proves job `job` for `prover` from `inputs`. A wrap job needs the `wrapper`.
pub fn prove(
    system: &ProofSystem,
    wrapper: Option<&Wrapper>,
    inputs: &JobInputs,
    job: JobId,
    prover: Address,
) -> Result<Proven, ProveError> {
    let child = |bytes: &[u8]| -> Result<RealProof, ProveError> {
        let statement = system.claimed_statement(bytes).map_err(ProveError::Child)?;
        Ok(RealProof { statement, bytes: bytes.to_vec() })
    };
    let proof = match inputs {
        JobInputs::Wrap { root, chain_id, first_block, last_block } => {
            let record =
                RangeRecord { chain_id: *chain_id, first_block: *first_block, last_block: *last_block, prover };
            let wrapper = wrapper.ok_or(ProveError::NoWrapper)?;
            return wrapper.wrap_calldata(system, &child(root)?, &record).map(Proven::Wrapped).map_err(Into::into);
        }
        JobInputs::Transfer { tx_hash, value_wei, fee_wei, writes } => {
            let witness =
                TransferWitness { tx_hash: *tx_hash, value_wei: *value_wei, fee_wei: *fee_wei, writes: writes.clone() };
            system.prove_transfer(&witness, job, prover)?
        }
        JobInputs::Span { calls } => {
            let witness = SpanWitness {
                calls: calls
                    .iter()
                    .map(|c| CallWitness {
                        tx_hash: c.tx_hash,
                        debit_wei: c.debit_wei,
                        credit_wei: c.credit_wei,
                        write: c.write.clone(),
                    })
                    .collect(),
            };
            system.prove_span(&witness, job, prover)?
        }
        JobInputs::Aggregate { left, right } => system.prove_aggregate(&child(left)?, &child(right)?, job, prover)?,
    };
    Ok(Proven::Job(proof))
}
