// The volunteer's plugin, off the page's thread: the WebAssembly module (the plugin host and the
// real circuits) blocks while it proves. This worker owns the validator's WebSocket JSON-RPC
// (zkcrowd_chainParams, the zkcrowd_clientSession subscription, zkcrowd_clientRequest, and the
// account queries the page shows), the host's timers and its clock, and posts the plugin's state
// to the page after every change.
import init, { Plugin } from "./pkg/zkcrowd_plugin_web.js";

// Bounds: requests waiting for their answer, and how often the page's figures are refreshed.
const PENDING_REQUESTS_MAX = 256;
const ACCOUNT_REFRESH_MS = 3000;
const REDIAL_MS = 2000;
const BETWEEN_PROOFS_MS = 50;

let plugin = null;
let socket = null;
let url = null;
let nextId = 1;
const pending = new Map();
let running = false;
let provingScheduled = false;
let account = null;

const post = (message) => postMessage(message);
const log = (text) => post({ log: `${new Date().toISOString().slice(11, 19)} ${text}` });

function hexToBytes(hex) {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.substr(2 * i, 2), 16);
  return bytes;
}

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onclose = () => {
      for (const { reject: fail } of pending.values()) fail(new Error("connection closed"));
      pending.clear();
      if (socket === ws && running) {
        log(`connection to ${url} closed; dialling again`);
        socket = null;
        setTimeout(openSession, REDIAL_MS);
      }
    };
    ws.onmessage = ({ data }) => onMessage(JSON.parse(data));
  });
}

function rpc(method, params) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error("not connected"));
  if (pending.size >= PENDING_REQUESTS_MAX) return Promise.reject(new Error("too many requests waiting"));
  const id = nextId++;
  socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function onMessage(message) {
  if (message.id !== undefined && pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) reject(new Error(`${message.error.code}: ${message.error.message}`));
    else resolve(message.result);
    return;
  }
  // zkcrowd_clientSession's notifications: the validator's messages for this plugin.
  if (message.method === "zkcrowd_clientMessage" && plugin) {
    plugin.frame(Date.now(), hexToBytes(message.params.result));
    afterEvent();
  }
}

// Carries out what the host asked for, then proves when the worker is free.
function afterEvent() {
  for (const output of JSON.parse(plugin.outputs())) {
    if (output.kind === "send") {
      rpc("zkcrowd_clientRequest", [output.frame]).catch((error) => log(`request refused: ${error.message}`));
    } else if (output.kind === "timer") {
      setTimeout(() => {
        if (!plugin) return;
        plugin.timer(Date.now(), output.timer, output.generation);
        afterEvent();
      }, output.after_ms);
    }
  }
  if (plugin.waiting() > 0 && !provingScheduled) {
    provingScheduled = true;
    // Later, as a macrotask: frames, answers and timers that arrived meanwhile are handled
    // between proofs (proving blocks this worker for seconds).
    setTimeout(proveOne, BETWEEN_PROOFS_MS);
  }
  publish();
}

function proveOne() {
  provingScheduled = false;
  if (!plugin || !running) return;
  post({ proving: true });
  const record = JSON.parse(plugin.prove_next());
  if (record) {
    log(record.ok ? `proved job ${record.job} (${record.kind}) in ${record.proving_ms} ms`
                  : `could not prove job ${record.job}: ${record.error}`);
  }
  post({ proving: false });
  afterEvent();
  refreshAccount();
}

function publish() {
  if (plugin) post({ status: JSON.parse(plugin.status()), account });
}

async function refreshAccount() {
  if (!plugin || !socket) return;
  try {
    const address = plugin.address();
    const [record, balance] = await Promise.all([
      rpc("zkcrowd_plugin", [address]),
      rpc("eth_getBalance", [address, "latest"]),
    ]);
    account = { market: record, balanceWei: BigInt(balance).toString() };
    publish();
  } catch (error) {
    log(`account query: ${error.message}`);
  }
}

async function openSession() {
  if (!running) return;
  try {
    socket = await connect();
    await rpc("zkcrowd_clientSession", []);
    log(`client session open on ${url}`);
  } catch (error) {
    log(`${error.message}; dialling again`);
    socket = null;
    setTimeout(openSession, REDIAL_MS);
  }
}

async function start({ key, rpcUrl }) {
  url = rpcUrl;
  running = true;
  post({ phase: "loading the WebAssembly module" });
  await init();
  socket = await connect();
  const params = await rpc("zkcrowd_chainParams", []);
  log(`chain ${params.chainId}: ${params.blockTimeMs} ms blocks, proofs required: ${params.realProofs}`);
  post({ phase: "building the circuits (once per page load, tens of seconds)" });
  const started = Date.now();
  plugin = new Plugin(key, JSON.stringify(params), 1);
  log(`circuits built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await rpc("zkcrowd_clientSession", []);
  log(`client session open on ${url}`);
  post({ phase: "running", address: plugin.address() });
  plugin.online(Date.now());
  afterEvent();
  refreshAccount();
  setInterval(refreshAccount, ACCOUNT_REFRESH_MS);
}

self.onmessage = async ({ data }) => {
  try {
    if (data.command === "start") await start(data);
    if (data.command === "stop" && plugin) {
      plugin.offline(Date.now());
      afterEvent();
      running = false;
      post({ phase: "stopped" });
    }
  } catch (error) {
    post({ error: String(error.message || error) });
  }
};
