//! The deterministic simulator and the `zkcrowd` command line: scenario schema, simulated
//! validators, plugins and users under madsim, faults, invariants, the runner and the CLI.
//!
//! The simulator drives the production code: validators run [`zkcrowd_node::Node`], plugins run
//! [`zkcrowd_client::PluginClient`]; what is simulated is the network, the clock, the devices
//! (proving time from a cost model) and the people (behaviours, sessions, load).

#[cfg(not(madsim))]
compile_error!(
    "zkcrowd-sim needs `--cfg madsim` (set for the whole workspace in .cargo/config.toml). \
     A RUSTFLAGS environment variable replaces that setting: add `--cfg madsim` to it."
);

pub mod agents;
pub mod byzantine;
pub mod calibrate;
pub mod chain_cmd;
pub mod cli;
pub mod cost;
pub mod l1;
pub mod net;
pub mod observer;
pub mod output;
pub mod real;
pub mod runner;
pub mod scenario;
pub mod setup;
pub mod sweep;
