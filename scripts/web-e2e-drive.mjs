// Drives headless Chromium through the DevTools protocol for scripts/web-e2e (no npm packages:
// Node's own WebSocket client, `node --experimental-websocket` on Node 20).
//   node --experimental-websocket scripts/web-e2e-drive.mjs DEBUG_PORT PAGE_URL OUT_DIR
// Opens PAGE_URL, then every 2 s reads the page's state (window.zkcrowd) into OUT_DIR/page.json
// and takes screenshots: OUT_DIR/proving.png the first time the page shows "proving",
// OUT_DIR/accepted.png the first time it shows a proof accepted, and OUT_DIR/latest.png every 10 s. Runs until killed; exits 1 if the page reports an error.
import { writeFileSync } from "node:fs";

const [port, pageUrl, outDir] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function devtools() {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
      return version.webSocketDebuggerUrl;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`no DevTools endpoint on port ${port}`);
}

const socket = new WebSocket(await devtools());
await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
let nextId = 1;
const waiting = new Map();
socket.onmessage = ({ data }) => {
  const message = JSON.parse(data);
  if (message.id && waiting.has(message.id)) {
    const { resolve, reject } = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) reject(new Error(JSON.stringify(message.error)));
    else resolve(message.result);
  }
};
function send(method, params = {}, sessionId) {
  const id = nextId++;
  socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

const { targetId } = await send("Target.createTarget", { url: "about:blank" });
const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
await send("Page.enable", {}, sessionId);
await send("Emulation.setDeviceMetricsOverride", { width: 1100, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
await send("Page.navigate", { url: pageUrl }, sessionId);
console.log(`web-e2e-drive: opened ${pageUrl}`);

async function screenshot(file) {
  const { data } = await send("Page.captureScreenshot", { format: "png" }, sessionId);
  writeFileSync(`${outDir}/${file}`, Buffer.from(data, "base64"));
}

let provingShot = false;
let acceptedShot = false;
for (let tick = 0; ; tick++) {
  await sleep(2000);
  let state;
  try {
    const { result } = await send("Runtime.evaluate", {
      expression: "JSON.stringify({ page: window.zkcrowd, shown: document.getElementById('state')?.textContent })",
      returnByValue: true,
    }, sessionId);
    state = JSON.parse(result.value || "{}");
  } catch {
    continue; // the page is still loading
  }
  writeFileSync(`${outDir}/page.json`, JSON.stringify(state, null, 1));
  if (state.page?.error) {
    await screenshot("error.png");
    console.error(`web-e2e-drive: the page reports an error: ${state.page.error}`);
    process.exit(1);
  }
  if (!provingShot && state.shown === "proving") {
    await screenshot("proving.png");
    provingShot = true;
    console.log("web-e2e-drive: screenshot while proving: proving.png");
  }
  if (!acceptedShot && state.page?.account?.market?.proofsAccepted >= 1) {
    await screenshot("accepted.png");
    acceptedShot = true;
    console.log("web-e2e-drive: screenshot with a proof accepted: accepted.png");
  }
  if (tick % 5 === 0) await screenshot("latest.png");
}
