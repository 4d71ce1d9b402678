//! Real proving inside a simulation (`proofs.real` in a scenario).
//!
//! The chain's genesis says which jobs need a real proof (`zkcrowd_market::RealProofPolicy`, from
//! the scenario's `proofs.real`: every job with a circuit under `all`; a seeded sample of leaf jobs
//! under `sample_rate`; an aggregate whenever both its children were proven for real), and refuses
//! a modeled record for them. A plugin whose job needs one proves
//! it with the plonky2 circuits of `zkcrowd-proofs` from the inputs its validator serves
//! ([`zkcrowd_protocol::JobInputs`]), and submits the bytes as a sidecar. Every validator verifies
//! them.
//!
//! Determinism: proof bytes are random, and proving takes however long it takes, but neither
//! reaches simulated state. The verdict depends only on the witness and the statement; the
//! proof travels outside tx hashes; simulated proving time comes from the cost model, never from
//! the measurement. Measured times go to the summary only (not to the digest).
//!
//! Threads: plonky2 proves in parallel on rayon's global pool, which [`init_thread_pool`] builds
//! before the madsim runtime starts (madsim forbids spawning threads inside a simulation). The
//! proving closure runs on a pool thread, so its wall-clock measurement is a real one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::Address;
use anyhow::Context as _;
use zkcrowd_client::prover::Proven;
use zkcrowd_market::Statement;
use zkcrowd_proofs::{ProofSystem, Wrapper, tamper_public_input};
use zkcrowd_protocol::Assignment;

/// Where circuits are cached: `$ZKCROWD_CIRCUIT_CACHE`, or `target/zkcrowd/circuits`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("ZKCROWD_CIRCUIT_CACHE").map_or_else(|| PathBuf::from("target/zkcrowd/circuits"), PathBuf::from)
}

/// Builds rayon's global pool now (outside any simulation). Idempotent.
pub fn init_thread_pool() {
    // Fails only if the pool exists already, which is what we want.
    let _ = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("prover-{i}")).build_global();
}

/// Loads (or builds and caches) the circuits. Call outside the simulation.
pub fn load_system(cache: &Path) -> anyhow::Result<Arc<ProofSystem>> {
    init_thread_pool();
    let system = ProofSystem::load_or_build(cache)
        .with_context(|| format!("loading the circuits (cache {})", cache.display()))?;
    Ok(Arc::new(system))
}

/// Builds the wrapper circuits over `system` (about 15 s). Not from the on-disk cache
/// (`Wrapper::load_or_build`): its file is 650 MB, and using it made CI slower, not faster (see
/// `zkcrowd_process::plugin::load_circuits`). Call outside the simulation.
pub fn build_wrapper(system: &ProofSystem) -> anyhow::Result<Arc<Wrapper>> {
    Ok(Arc::new(Wrapper::build(system).context("building the wrapper circuits")?))
}

/// Real proving in a run: the circuits (which jobs are proven for real is the chain's rule, see
/// [`RealProving::picks`]).
#[derive(Debug, Clone)]
pub struct RealProving {
    /// The circuits.
    pub system: Arc<ProofSystem>,
    /// The wrapper circuits (a range's root turned into the proof the L1 verifies).
    pub wrapper: Arc<Wrapper>,
}

/// What proving produced.
#[derive(Debug, Clone)]
pub struct Produced {
    /// The proof bytes (circuit byte, then plonky2's encoding).
    pub bytes: Vec<u8>,
    /// Wall-clock proving time, ms (measured on a pool thread; never enters simulated state).
    pub measured_ms: f64,
}

impl RealProving {
    /// Whether this assignment gets a real proof: exactly when the chain requires one (its
    /// `RealProofPolicy`, evaluated by the validator from chain data) and the validator served the
    /// inputs. The plugin follows the chain's rule; it does not draw its own sample.
    pub fn picks(&self, assignment: &Assignment) -> bool {
        assignment.real_required && assignment.inputs.is_some()
    }

    /// Proves `assignment` for `prover`; `valid: false` tampers one public input afterwards (an
    /// invalid-proof plugin: the proof must fail verification).
    pub fn prove(&self, assignment: &Assignment, prover: Address, valid: bool) -> Result<Produced, String> {
        let inputs = assignment.inputs.as_ref().ok_or("no inputs")?;
        let system = &self.system;
        let job = assignment.job;
        // Called from outside the pool, `join` runs both closures on pool threads and blocks
        // until they finish: the proof (and the clock reading) happen off the simulated thread.
        let ((result, measured_ms), ()) = rayon::join(
            || {
                let start = std::time::Instant::now();
                let result = zkcrowd_client::prover::prove(system, Some(&self.wrapper), inputs, job, prover);
                (result, start.elapsed().as_secs_f64() * 1e3)
            },
            || (),
        );
        let bytes = match (result.map_err(|error| error.to_string())?, valid) {
            (Proven::Job(proof), true) => proof.bytes,
            (Proven::Job(proof), false) => tamper_public_input(&proof.bytes, Statement::FIELDS - 1),
            (Proven::Wrapped(calldata), true) => calldata,
            (Proven::Wrapped(mut calldata), false) => {
                // A wrapped proof carries no public inputs (the verifier takes them apart): flip a
                // byte of its first Merkle cap instead.
                calldata[0] ^= 1;
                calldata
            }
        };
        Ok(Produced { bytes, measured_ms })
    }
}
