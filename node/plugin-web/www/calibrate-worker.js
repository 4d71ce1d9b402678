// Runs the calibration off the page's thread: the module blocks while it proves.
import init, { calibrate } from "./pkg/zkcrowd_plugin_web.js";

self.onmessage = async ({ data }) => {
  try {
    postMessage({ status: "loading the WebAssembly module…" });
    await init();
    postMessage({ status: `building the circuits and proving (${data.runs} runs each)…` });
    const result = JSON.parse(calibrate(data.runs));
    const wasmBytes = (await (await fetch("./pkg/zkcrowd_plugin_web_bg.wasm")).arrayBuffer()).byteLength;
    postMessage({ ...result, wasm_bytes: wasmBytes, user_agent: data.userAgent, cores: data.cores });
  } catch (error) {
    postMessage({ error: String(error) });
  }
};
