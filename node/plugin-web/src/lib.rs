//! The browser plugin, compiled to WebAssembly (`scripts/build-web`). So far it measures: the real
//! circuits (`zkcrowd_proofs`: transfer, 16-call span, 2-to-1 aggregation), built and proven in a
//! browser on the same workload `zkcrowd calibrate` proves natively
//! (`zkcrowd_proofs::calibration`), so `zkcrowd calibrate --browser` can turn the ratio into the
//! simulator's browser device class. The plugin client itself (keys, a validator's WebSocket
//! JSON-RPC, assignments proven in a worker) is not compiled here yet: see docs/web.md.
//!
//! Natively the crate compiles too (the workspace's lints and tests cover it); only
//! [`calibrate`]'s clock needs a JavaScript host.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use zkcrowd_proofs::ProofSystem;
use zkcrowd_proofs::calibration::{Timings, Workload};

/// What the browser measured (`calibrate`'s JSON).
#[derive(Debug, Clone, Serialize)]
pub struct BrowserCalibration {
    /// Building the circuits (the proof system), ms: a page does it once per load.
    pub build_ms: f64,
    /// The proving times, medians.
    pub timings: Timings,
    /// The module's linear memory after proving, bytes (WebAssembly memory never shrinks, so this
    /// is the peak).
    pub memory_bytes: u64,
}

/// Builds the circuits, proves the calibration workload `runs` times per circuit (medians), and
/// returns [`BrowserCalibration`] as JSON. Blocks its thread: call it from a Web Worker.
#[wasm_bindgen]
pub fn calibrate(runs: u32) -> Result<String, JsError> {
    let mut now_ms = js_sys::Date::now;
    let start = now_ms();
    let system = ProofSystem::build().map_err(|error| JsError::new(&format!("building the circuits: {error:#}")))?;
    let build_ms = now_ms() - start;
    let workload = Workload::new().map_err(|error| JsError::new(&format!("{error:#}")))?;
    let (timings, _) = zkcrowd_proofs::calibration::measure(&system, &workload, runs, &mut now_ms)
        .map_err(|error| JsError::new(&format!("proving: {error:#}")))?;
    let result = BrowserCalibration { build_ms, timings, memory_bytes: memory_bytes() };
    serde_json::to_string(&result).map_err(|error| JsError::new(&error.to_string()))
}

/// Bytes of this module's linear memory.
fn memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size(0) as u64) * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}
