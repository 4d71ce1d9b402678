//! The proving-time cost model (DESIGN.md §2): how long a job takes on a plugin's device, in
//! simulated time.
//!
//! `time = profile time for the job kind / device speed × jitter`, where jitter is a log-normal
//! factor with median 1 and the scenario's `proofs.jitter_sigma`.
//!
//! Profiles:
//! * `calibrated`: this project's transfer and aggregation circuits on the reference device.
//!   Until `zkcrowd calibrate` measures them (the real-proofs issue), the figures are the targets
//!   that issue sets (tx proof 1 s, 2-to-1 aggregation 1.5 s) and the profile says so
//!   ([`CostProfile::provisional`]).
//! * `zkevm-reference`: a full zkEVM measured on a 2-core machine: ~28.5 CPU-s STARK + ~93 CPU-s
//!   recursion per transfer, ~21 CPU-s per aggregation.
//!
//! System jobs (a block's market transactions as one span) cost one tx proof per transaction in
//! the span; contract calls cost a tx proof (modeled: the shipped circuit proves transfers only).

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use zkcrowd_market::JobKind;

use crate::scenario::CostProfileName;

/// Reference-device proving times, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostProfile {
    /// Profile name.
    pub name: CostProfileName,
    /// One transaction proof.
    pub tx_ms: f64,
    /// One 2-to-1 aggregation.
    pub aggregate_ms: f64,
    /// Whether the figures are targets rather than measurements.
    pub provisional: bool,
}

impl CostProfile {
    /// The named profile.
    pub fn named(name: CostProfileName) -> Self {
        match name {
            CostProfileName::Calibrated => Self { name, tx_ms: 1_000.0, aggregate_ms: 1_500.0, provisional: true },
            CostProfileName::ZkevmReference => {
                Self { name, tx_ms: 121_500.0, aggregate_ms: 21_000.0, provisional: false }
            }
        }
    }

    /// Whether the figures are targets, not measurements.
    pub fn provisional(&self) -> bool {
        self.provisional
    }

    /// Reference time of a job, in milliseconds.
    pub fn reference_ms(&self, kind: &JobKind) -> f64 {
        match kind {
            JobKind::Tx { .. } => self.tx_ms,
            JobKind::System { txs, .. } => self.tx_ms * f64::from((*txs).max(1)),
            JobKind::Aggregate { .. } => self.aggregate_ms,
        }
    }

    /// Sampled time of a job on a device of `speed`, in milliseconds (at least 1).
    pub fn sample_ms(&self, kind: &JobKind, speed: f64, jitter_sigma: f64, rng: &mut impl Rng) -> u64 {
        let jitter = if jitter_sigma > 0.0 {
            LogNormal::new(0.0, jitter_sigma).expect("validated sigma").sample(rng)
        } else {
            1.0
        };
        (self.reference_ms(kind) / speed * jitter).round().max(1.0) as u64
    }
}
