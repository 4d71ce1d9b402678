//! The proving-time cost model (docs/protocol.md §2): how long a job takes on a plugin's device, in
//! simulated time.
//!
//! `time = profile time for the job kind / device speed × jitter`, where jitter is a log-normal
//! factor with median 1 and the scenario's `proofs.jitter_sigma`.
//!
//! Profiles:
//! * `measured`: this project's circuits (transfer, 16-call span, 2-to-1 aggregation) as
//!   `zkcrowd calibrate` measured them on the reference device, read from
//!   `sim/profiles/measured.json` (compiled in, so a run's inputs are the binary and the scenario).
//!   A profile marked `provisional` holds targets, not measurements, and the run says so.
//! * `zkevm-reference`: a full zkEVM measured on a 2-core machine: ~28.5 CPU-s STARK + ~93 CPU-s
//!   recursion per transfer, ~21 CPU-s per aggregation.
//!
//! A tx job's time grows with its gas above a transfer's 21,000 (`per_mgas_ms` per million gas):
//! a zkEVM's trace, and so its STARK proving, grows with the work a transaction does, while the
//! recursion that compresses it is per transaction. The term is calibrated on the zkEVM reference:
//! its STARK part (28.5 of 121.5 CPU-s for a 21,000-gas transfer) spread over 21,000 gas gives
//! 1,357 s per million gas; `measured` keeps the same proportion of its transfer time (23.5% of
//! it per 21,000 gas: 5.2 s per million gas). A 5M-gas call then costs ~57 transfers under either
//! profile (the "prover killers" of Chaliasos et al., arXiv 2509.17126).
//!
//! System jobs (a block's market transactions as one span) cost one span proof under `measured`
//! (the circuit has a fixed 16 slots) and one tx proof per transaction under `zkevm-reference`;
//! contract calls cost a tx proof (modeled: the shipped circuits prove transfers and market calls).
//! A range aggregate costs an aggregation. A wrap (the range's root turned into the proof the L1
//! verifies) costs `wrap_ms` under `measured` (`zkcrowd calibrate` measures `Wrapper::wrap`); under
//! `zkevm-reference`, for which no wrap was measured, it is assumed to cost the same multiple of an
//! aggregation as this project's wrap does of its aggregation.

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use zkcrowd_market::JobKind;

use crate::scenario::{CostProfileName, ProvingTimes};

/// A plain transfer's gas: the per-gas term counts gas above it.
const TRANSFER_GAS: f64 = 21_000.0;

/// The share of the zkEVM reference's transfer time that grows with gas (its STARK part, 28.5 of
/// 121.5 CPU-s); the rest (recursion) is per transaction.
const ZKEVM_STARK_SHARE: f64 = 28.5 / 121.5;

/// Reference-device proving times, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostProfile {
    /// Profile name.
    pub name: CostProfileName,
    /// One transaction proof.
    pub tx_ms: f64,
    /// One span proof (market calls); `None`: one tx proof per call.
    pub span_ms: Option<f64>,
    /// One 2-to-1 aggregation.
    pub aggregate_ms: f64,
    /// One wrap of a range's root proof for the L1.
    pub wrap_ms: f64,
    /// Added to a tx proof per million gas above a transfer's 21,000.
    pub per_mgas_ms: f64,
    /// Whether the figures are targets rather than measurements.
    pub provisional: bool,
}

/// The calibration file (`zkcrowd calibrate` writes it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Targets rather than measurements.
    #[serde(default)]
    pub provisional: bool,
    /// Where and how it was measured.
    #[serde(default)]
    pub note: String,
    /// Transfer proof, median, ms.
    pub tx_ms: f64,
    /// 16-slot span proof, median, ms.
    pub span_ms: f64,
    /// 2-to-1 aggregation proof, median, ms.
    pub aggregate_ms: f64,
    /// Wrap of an aggregate root for the L1 (stage 1 and the final Keccak proof), median, ms.
    pub wrap_ms: f64,
}

/// The compiled-in calibration of the `measured` profile.
pub const MEASURED_JSON: &str = include_str!("../profiles/measured.json");

/// The compiled-in browser device class (`zkcrowd calibrate --browser`).
pub const BROWSER_JSON: &str = include_str!("../profiles/browser.json");

/// The browser device class's speed relative to the reference device.
pub fn browser_speed() -> f64 {
    let class: crate::calibrate::BrowserClass =
        serde_json::from_str(BROWSER_JSON).expect("sim/profiles/browser.json is valid");
    class.speed
}

impl CostProfile {
    /// The named profile.
    pub fn named(name: CostProfileName) -> Self {
        match name {
            CostProfileName::Measured => {
                let c = Self::measured();
                Self {
                    name,
                    tx_ms: c.tx_ms,
                    span_ms: Some(c.span_ms),
                    aggregate_ms: c.aggregate_ms,
                    wrap_ms: c.wrap_ms,
                    per_mgas_ms: c.tx_ms * ZKEVM_STARK_SHARE * 1e6 / TRANSFER_GAS,
                    provisional: c.provisional,
                }
            }
            CostProfileName::ZkevmReference => {
                let c = Self::measured();
                let aggregate_ms = 21_000.0;
                let wrap_ms = aggregate_ms * c.wrap_ms / c.aggregate_ms;
                let per_mgas_ms = 28_500.0 * 1e6 / TRANSFER_GAS;
                Self { name, tx_ms: 121_500.0, span_ms: None, aggregate_ms, wrap_ms, per_mgas_ms, provisional: false }
            }
        }
    }

    fn measured() -> Calibration {
        serde_json::from_str(MEASURED_JSON).expect("sim/profiles/measured.json is valid")
    }

    /// Whether the figures are targets, not measurements.
    pub fn provisional(&self) -> bool {
        self.provisional
    }

    /// Reference time of a job, in milliseconds.
    pub fn reference_ms(&self, kind: &JobKind, gas_used: u64) -> f64 {
        match kind {
            JobKind::Tx { .. } => {
                self.tx_ms + self.per_mgas_ms * gas_used.saturating_sub(TRANSFER_GAS as u64) as f64 / 1e6
            }
            JobKind::System { txs, .. } => self.span_ms.unwrap_or(self.tx_ms * f64::from((*txs).max(1))),
            JobKind::Aggregate { .. } | JobKind::RangeAggregate { .. } => self.aggregate_ms,
            JobKind::Wrap { .. } => self.wrap_ms,
        }
    }

    /// Sampled time of a job on a device of `speed`, in milliseconds (at least 1).
    pub fn sample_ms(
        &self,
        kind: &JobKind,
        gas_used: u64,
        speed: f64,
        proofs: &crate::scenario::ProofsSection,
        rng: &mut impl Rng,
    ) -> u64 {
        let factor = match proofs.times {
            ProvingTimes::Lognormal if proofs.jitter_sigma > 0.0 => {
                LogNormal::new(0.0, proofs.jitter_sigma).expect("validated sigma").sample(rng)
            }
            ProvingTimes::Lognormal => 1.0,
            ProvingTimes::Exponential => rand_distr::Exp1.sample(rng),
        };
        (self.reference_ms(kind, gas_used) / speed * factor).round().max(1.0) as u64
    }
}
