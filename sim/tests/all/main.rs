//! The simulator's integration tests, one module per subject, in one test binary: every
//! integration test file is a binary that links the whole workspace (alloy, plonky2, polars, revm),
//! and linking twelve of them cost minutes of the CI budget.

mod checkers;
mod cli_chain;
mod economics;
mod flood;
mod halt;
mod hostile;
mod l1;
mod message_loss;
mod real_proofs;
mod report;
mod scenarios;
mod sweep;
mod testnet;
