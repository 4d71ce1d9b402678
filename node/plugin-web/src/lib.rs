//! The browser plugin, compiled to WebAssembly (`scripts/build-web`):
//! - [`plugin`]: the plugin host (the same client and honest strategy as `zkcrowd plugin` and the
//!   simulator's plugins) over a runtime the page's Web Worker drives: the worker owns the
//!   validator's WebSocket JSON-RPC and the timers; the module proves assignments with the real
//!   circuits, built in the browser. [`Plugin`] is its JavaScript face (`www/plugin-worker.js`).
//! - [`calibrate`]: the real circuits (transfer, 16-call span, 2-to-1 aggregation) proven on the
//!   workload `zkcrowd calibrate` proves natively (`zkcrowd_proofs::calibration`), so that
//!   `zkcrowd calibrate --browser` turns the ratio into the simulator's browser device class.
//!
//! Natively the crate compiles too (the workspace's lints and tests cover it); only the clocks
//! need a JavaScript host.

pub mod plugin;

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

/// The plugin for JavaScript (see [`plugin::WebPlugin`]): every answer is JSON.
#[wasm_bindgen]
pub struct Plugin(plugin::WebPlugin);

fn js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

#[wasm_bindgen]
impl Plugin {
    /// A plugin with key `secret_hex` (64 hex digits) on the chain `chain_params_json`
    /// (`zkcrowd_chainParams`'s answer) describes, knowing `validators` validators. Builds the
    /// circuits (tens of seconds): call it in a Web Worker.
    #[wasm_bindgen(constructor)]
    pub fn new(secret_hex: &str, chain_params_json: &str, validators: u16) -> Result<Plugin, JsError> {
        plugin::WebPlugin::new(secret_hex, chain_params_json, validators).map(Plugin).map_err(js_error)
    }

    /// The plugin's address (checksummed hex).
    pub fn address(&self) -> String {
        self.0.address().to_checksum(None)
    }

    /// Start (the volunteer pressed start); `now_ms` is the page's clock.
    pub fn online(&mut self, now_ms: f64) {
        self.0.online(now_ms as u64);
    }

    /// Stop.
    pub fn offline(&mut self, now_ms: f64) {
        self.0.offline(now_ms as u64);
    }

    /// A frame from the validator (the bytes of a `zkcrowd_clientSession` notification).
    pub fn frame(&mut self, now_ms: f64, frame: Vec<u8>) {
        self.0.frame(now_ms as u64, frame);
    }

    /// A timer fired (`tick` or `decide`, with its generation).
    pub fn timer(&mut self, now_ms: f64, timer: &str, generation: f64) {
        self.0.timer(now_ms as u64, timer, generation as u64);
    }

    /// What to do now, drained: JSON list of `{kind: "send", validator, frame}` and
    /// `{kind: "timer", after_ms, timer, generation}`.
    pub fn outputs(&mut self) -> Result<String, JsError> {
        serde_json::to_string(&self.0.outputs()).map_err(js_error)
    }

    /// Assignments waiting to be proven.
    pub fn waiting(&self) -> usize {
        self.0.waiting()
    }

    /// Proves the oldest waiting assignment (blocks for seconds); JSON of the proof's record, or
    /// `null` when nothing waits.
    pub fn prove_next(&mut self) -> Result<String, JsError> {
        let record = self.0.prove_next(&mut js_sys::Date::now);
        serde_json::to_string(&record).map_err(js_error)
    }

    /// What the page shows (JSON).
    pub fn status(&self) -> Result<String, JsError> {
        serde_json::to_string(&self.0.status()).map_err(js_error)
    }
}

/// The address of private key `secret_hex` (what the page shows before the plugin starts, so the
/// volunteer can fund it).
#[wasm_bindgen]
pub fn address_of(secret_hex: &str) -> Result<String, JsError> {
    plugin::signer(secret_hex).map(|signer| signer.address().to_checksum(None)).map_err(js_error)
}
