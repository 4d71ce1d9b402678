//! The validator node: consensus (Tendermint), mempool, block proposal, block sync and the service
//! to users and plugins, as a sans-I/O state machine ([`Node::handle`]), and its [`Host`]: the
//! driver that decodes frames, runs the node and carries out its outputs over a [`Runtime`]
//! (clock, timers, transport, reports) that the simulator implements over madsim and a process
//! over sockets.

pub mod host;
mod mempool;
mod node;
mod proven;
mod wal;
pub mod wire;
mod witness;

pub use host::{Event, Host, Runtime, run};
pub use mempool::{Mempool, NONCE_AHEAD_MAX, NONCE_GAP_BLOCKS_MAX};
pub use node::{
    CommitReport, FORWARDED_TXS_MAX, GOSSIP_BATCH_MAX, ImportRefusal, Input, MarketSnapshot, Node, NodeCounters,
    NodeParams, Output, RestoreError, SIGNED_MESSAGES_MAX, SUBSCRIPTIONS_MAX, Timer, VERDICTS_PER_HEIGHT_MAX,
    WATCHERS_MAX, is_proof_submission,
};
pub use proven::{PROVEN_RECORDS_MAX, ProvenBlocks, ProvenRecord, WrappedRange};
pub use wal::{WAL_ENTRIES_MAX, WriteAheadLog};
pub use wire::{
    Certificate, CertificateError, CommittedBlock, ConsensusVote, Evidence, GOSSIP_BYTES_MAX, PeerMessage,
    SYNC_RESPONSE_BYTES_MAX, SignatureBytes, SignatureError, SignedMessage, block_wire_bytes, consensus_domain,
    packet_wire_bytes, signing_hash,
};
pub use zkcrowd_protocol::MempoolError;
