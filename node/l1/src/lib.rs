//! The L1 side of zkcrowd: wrapped ranges of fully proven L2 blocks go to an Ethereum `Rollup`
//! contract, verified by the generated `WrapperVerifier` (or, in modeled simulations, by the
//! simulation-only `ModeledProofVerifier`).
//!
//! 1. [`contract`]: bindings of `contracts/src/Rollup.sol`, the generated `WrapperVerifier` and the
//!    simulation-only `ModeledProofVerifier` (ABI from `sol!`, bytecode from forge's artifacts),
//!    the range binding, deterministic keys.
//! 2. [`backend`]: one blocking interface, [`L1Backend`], over two L1s that run the same bytecode:
//!    [`AnvilL1`] (foundry's anvil, a real process, driven through alloy's JSON-RPC provider on
//!    its own thread) and [`EmbeddedL1`] (revm in process, for fast sweeps). Both are driven in
//!    **lockstep**: nothing is mined until [`L1Backend::mine`] is called with the block's timestamp,
//!    so the same calls give the same L1 state, tx hashes and gas on both.
//! 3. [`agent`]: the slot schedule (the contract's rule, mirrored), the modeled proof record, the
//!    [`SubmissionAgent`] that signs `submitRange` transactions, and [`Submitter`], an agent's
//!    honest loop (wait for the slot, submit, confirm, bounded retries) over an [`AgentLink`] (the
//!    L1 connection and the back-off clock), so the simulator and a validator process drive the
//!    same code.
//! 4. [`deploy`]: deploys a verifier ([`VerifierKind`]) and the rollup, and reads the proven chain
//!    back.

pub mod agent;
pub mod anvil;
pub mod backend;
pub mod contract;
pub mod deploy;
pub mod embedded;

pub use agent::{AgentLink, NotSent, ProvenRange, Schedule, SubmissionAgent, SubmissionOutcome, Submitted, Submitter};
pub use anvil::{AnvilL1, L1Rpc};
pub use backend::{L1Backend, L1Block, L1Error, L1Receipt, StopHandle};
pub use deploy::{Deployment, VerifierKind};
pub use embedded::EmbeddedL1;
