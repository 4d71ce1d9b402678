//! zkcrowd nodes as operating-system processes: the production validator host
//! ([`zkcrowd_node::Host`], the same code the simulator runs) over tokio for the clock and timers
//! and TCP for the transport.
//!
//! 1. [`transport`]: length-prefixed frames over TCP, a connection's hello (who is calling), the
//!    per-peer outbound links (reconnecting, bounded queues) and the listener that turns what
//!    arrives into host events.
//! 2. [`store`]: a validator's disk (redb): committed blocks and the write-ahead log.
//! 3. [`validator`]: [`ValidatorRuntime`], the host's [`zkcrowd_node::Runtime`] in a process, and
//!    [`start_validator`], which runs one validator until it is stopped.
//! 4. [`rpc`] and [`index`]: Ethereum JSON-RPC over HTTP and WebSocket, and the index of recent
//!    blocks, transactions and receipts it reads.
//! 5. [`l1`]: a validator's L1 submission agent on a live L1 (the simulator's `Submitter`).
//! 6. [`plugin`]: `zkcrowd plugin`, one plugin as a process: the plugin host
//!    ([`zkcrowd_client::PluginHost`], the simulator's) over tokio, talking to a validator over
//!    JSON-RPC (WebSocket), proving for real with plonky2.
//! 7. [`testnet`]: `zkcrowd node` (one validator from its configuration, restored from its disk)
//!    and `zkcrowd testnet up/status/down`: validators, plugins and an anvil L1 with the contracts.
//! 8. [`load`]: `zkcrowd testnet load`, transfers at a target rate through the RPC, counted to
//!    commit, proof and the L1.
//! 9. [`web`]: `zkcrowd web`, the static server of the browser plugin's page for a testnet.
//!
//! Every queue has a named bound; what a full one drops is counted ([`TransportCounters`]).

pub mod index;
pub mod l1;
pub mod load;
pub mod plugin;
pub mod rpc;
pub mod store;
pub mod testnet;
pub mod transport;
pub mod validator;
pub mod web;

pub use transport::{
    CLIENT_QUEUE_FRAMES_MAX, FRAME_BYTES_MAX, Hello, HelloError, INBOX_EVENTS_MAX, PEER_QUEUE_BYTES_MAX,
    TransportCounters,
};
pub use validator::{Head, ValidatorHandle, ValidatorOptions, ValidatorRuntime, start_validator};
