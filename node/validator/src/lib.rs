//! The validator node: consensus (Tendermint), mempool, block proposal, block sync and the service
//! to users and plugins, as a sans-I/O state machine ([`Node::handle`]) that the simulator drives
//! under madsim and a real runtime drives over sockets.

mod mempool;
mod node;
mod proven;
mod wire;
mod witness;

pub use mempool::{Mempool, MempoolError, NONCE_AHEAD_MAX};
pub use node::{CommitReport, Input, MarketSnapshot, Node, NodeParams, Output, Timer, is_proof_submission};
pub use proven::{PROVEN_RECORDS_MAX, ProvenBlocks, ProvenRecord};
pub use wire::{CommittedBlock, PeerMessage};
