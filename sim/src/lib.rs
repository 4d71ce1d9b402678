//! The deterministic simulator and the `zkcrowd` command line: scenario schema, simulated
//! validators, plugins and users under madsim, faults, invariants, the runner and the CLI.
//!
//! So far it holds the chain command (`zkcrowd chain`), the first runnable path over the node's
//! chain core; the simulator proper lands with the simulator issue.

#[cfg(not(madsim))]
compile_error!(
    "zkcrowd-sim needs `--cfg madsim` (set for the whole workspace in .cargo/config.toml). \
     A RUSTFLAGS environment variable replaces that setting: add `--cfg madsim` to it."
);

pub mod chain_cmd;
