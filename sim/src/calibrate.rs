//! `zkcrowd calibrate`: measures this project's real circuits on this machine and writes the
//! `measured` cost profile (`sim/profiles/measured.json`), which scenarios then use, scaled by each
//! plugin's device speed. Measuring is wall-clock work outside any simulation; a run reads only the
//! file, so the same file gives the same digest.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use zkcrowd_proofs::calibration::{CALIBRATION_PROVER, Timings, Workload};
use zkcrowd_proofs::{ProofSystem, RangeRecord, Wrapper};

use crate::cost::Calibration;

/// Measures transfer, 16-call span and aggregation proofs (`zkcrowd_proofs::calibration`, the
/// workload the browser plugin measures too) and the wrap of an aggregate root (`runs` each,
/// median) and returns the calibration, with the machine in its note.
pub fn measure(system: &ProofSystem, wrapper: &Wrapper, runs: u32) -> Result<Calibration> {
    let origin = Instant::now();
    let mut now_ms = || origin.elapsed().as_secs_f64() * 1e3;
    let (timings, aggregate) = zkcrowd_proofs::calibration::measure(system, &Workload::new()?, runs, &mut now_ms)?;
    let record = RangeRecord { chain_id: 7777, first_block: 1, last_block: 8, prover: CALIBRATION_PROVER };
    let mut wraps = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = now_ms();
        wrapper.wrap_calldata(system, &aggregate, &record)?;
        wraps.push(now_ms() - start);
    }
    wraps.sort_by(f64::total_cmp);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Calibration {
        provisional: false,
        note: format!(
            "zkcrowd calibrate: median of {runs} runs on {cpus} CPUs ({}); verify {:.1} ms; proof {} bytes",
            cpu_model().unwrap_or_else(|| "unknown CPU".into()),
            timings.verify_ms,
            timings.aggregate_bytes,
        ),
        tx_ms: timings.tx_ms,
        span_ms: timings.span_ms,
        aggregate_ms: timings.aggregate_ms,
        wrap_ms: wraps[wraps.len() / 2],
    })
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split(':').nth(1)?.trim().to_owned())
}

/// Measures and writes the profile to `out`.
pub fn run(cache: &Path, out: &Path, runs: u32) -> Result<Calibration> {
    let system = crate::real::load_system(cache)?;
    let wrapper = crate::real::build_wrapper(&system)?;
    let calibration = measure(&system, &wrapper, runs)?;
    let text = serde_json::to_string_pretty(&calibration)? + "\n";
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(calibration)
}

/// What the web plugin measured in a browser (`scripts/web-calibrate` writes it from the page).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BrowserMeasurement {
    /// Building the circuits in the browser, ms.
    pub build_ms: f64,
    /// Proving times, medians.
    pub timings: Timings,
    /// The module's linear memory after proving, bytes.
    pub memory_bytes: u64,
    /// The WebAssembly module's size, bytes.
    pub wasm_bytes: u64,
    /// The browser.
    pub user_agent: String,
    /// `navigator.hardwareConcurrency`.
    pub cores: u32,
}

/// Native ÷ browser time per circuit, and the class speed: their geometric mean.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Speeds {
    /// Transfer proofs.
    pub tx: f64,
    /// 16-call span proofs.
    pub span: f64,
    /// 2-to-1 aggregation proofs.
    pub aggregate: f64,
}

impl Speeds {
    /// `native_ms / browser_ms` per circuit.
    pub fn of(native: &Timings, browser: &Timings) -> Self {
        Self {
            tx: native.tx_ms / browser.tx_ms,
            span: native.span_ms / browser.span_ms,
            aggregate: native.aggregate_ms / browser.aggregate_ms,
        }
    }

    /// The geometric mean of the three.
    pub fn mean(&self) -> f64 {
        (self.tx * self.span * self.aggregate).cbrt()
    }
}

/// The browser device class (`sim/profiles/browser.json`): scenarios name it as
/// `{ share, class: browser }` instead of a guessed speed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BrowserClass {
    /// Speed relative to the reference device (the `measured` profile's machine, natively, all
    /// its cores): proving times divide by it.
    pub speed: f64,
    /// Per circuit.
    pub speeds: Speeds,
    /// Where and how it was measured.
    pub note: String,
    /// The native medians of the same session.
    pub native: Timings,
    /// The browser's.
    pub browser: Timings,
    /// Building the circuits in the browser, ms.
    pub browser_build_ms: f64,
    /// The module's memory after proving, bytes.
    pub browser_memory_bytes: u64,
    /// The WebAssembly module, bytes.
    pub wasm_bytes: u64,
}

/// `zkcrowd calibrate --browser FILE`: measures the same workload natively now (this session, so
/// the ratio compares like with like) and writes the browser device class to `out`.
pub fn browser(measurement: &Path, cache: &Path, out: &Path, runs: u32) -> Result<BrowserClass> {
    let text = std::fs::read_to_string(measurement).with_context(|| format!("reading {}", measurement.display()))?;
    let measured: BrowserMeasurement = serde_json::from_str(&text)
        .with_context(|| format!("{} is not the web page's result", measurement.display()))?;
    let system = crate::real::load_system(cache)?;
    let origin = Instant::now();
    let mut now_ms = || origin.elapsed().as_secs_f64() * 1e3;
    let (native, _) = zkcrowd_proofs::calibration::measure(&system, &Workload::new()?, runs, &mut now_ms)?;
    let speeds = Speeds::of(&native, &measured.timings);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let class = BrowserClass {
        speed: speeds.mean(),
        speeds,
        note: format!(
            "zkcrowd calibrate --browser: {} (single-threaded WebAssembly, {} cores reported) against native on \
             {cpus} CPUs ({}), medians of {} and {runs} runs, one session",
            measured.user_agent,
            measured.cores,
            cpu_model().unwrap_or_else(|| "unknown CPU".into()),
            measured.timings.runs,
        ),
        native,
        browser: measured.timings,
        browser_build_ms: measured.build_ms,
        browser_memory_bytes: measured.memory_bytes,
        wasm_bytes: measured.wasm_bytes,
    };
    let text = serde_json::to_string_pretty(&class)? + "\n";
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(class)
}
