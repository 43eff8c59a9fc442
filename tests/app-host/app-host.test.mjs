// Renders Outpost's `greeting_card` MCP App the way a host does: the real server over HTTP
// (2026-07-28 stateless requests), the real AppBridge from @modelcontextprotocol/ext-apps in
// headless Chromium, the View in a sandboxed iframe under a no-network CSP.
//
// Run with `node --test` in this folder (scripts/app-host-test.sh does the npm install first).
// OUTPOST_BIN=/path/to/outpost skips `cargo build -p outpost-cli`.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { getToolUiResourceUri, RESOURCE_MIME_TYPE } from "@modelcontextprotocol/ext-apps/app-bridge";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const BUILD_DIR = join(HERE, "build");
const ARTIFACTS = join(REPO, "artifacts", "app-host");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

const PROTOCOL_VERSION = "2026-07-28";
const REQUEST_META = {
  "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "app-host-test", version: "1" },
};
/** What hosts put around an MCP App: no network at all, inline script and style only. */
const APP_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";

const TOOL_ARGS = { message: "Happy birthday <b>Ada</b>", name: "Ada" };

const THEMES = {
  light: {
    theme: "light",
    displayMode: "inline",
    platform: "web",
    locale: "en-US",
    styles: {
      variables: {
        "--color-background-primary": "#fff8e7",
        "--color-background-secondary": "#eef1f4",
        "--color-text-primary": "#2b1d0e",
        "--color-text-secondary": "#6b5a45",
        "--color-border-primary": "#c2410c",
        "--font-sans": "Georgia, serif",
        "--border-radius-lg": "14px",
      },
    },
  },
  dark: {
    theme: "dark",
    displayMode: "inline",
    platform: "web",
    locale: "en-US",
    styles: {
      variables: {
        "--color-background-primary": "#1b2433",
        "--color-background-secondary": "#0b0f17",
        "--color-text-primary": "#e8f0ff",
        "--color-text-secondary": "#9fb0c8",
        "--color-border-primary": "#60a5fa",
        "--font-sans": "\"DejaVu Sans\", sans-serif",
        "--border-radius-lg": "14px",
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Process and server plumbing

let server; // { child, base, output: () => string }
let staticServer; // { server, origin, hits: string[] }
let browser;

function hexToRgb(hex) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function buildOutpost() {
  if (process.env.OUTPOST_BIN) return resolve(process.env.OUTPOST_BIN);
  const build = spawnSync("cargo", ["build", "-p", "outpost-cli"], {
    cwd: REPO,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (build.status !== 0) {
    throw new Error(`cargo build -p outpost-cli failed (${build.status}):\n${build.stderr}`);
  }
  return join(REPO, "target", "debug", "outpost");
}

async function startOutpost(bin) {
  const port = await freePort();
  const child = spawn(bin, ["serve", "--no-auth", "--bind", `127.0.0.1:${port}`], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const running = { child, base: `http://127.0.0.1:${port}`, output: () => log, exited };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${running.base}/health`);
      if (res.status === 200) return running;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stopOutpost(running);
  throw new Error(`outpost did not answer GET /health with 200:\n${log}`);
}

async function stopOutpost(running) {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill("SIGTERM");
  const done = await Promise.race([running.exited, sleep(5000).then(() => null)]);
  if (!done) {
    running.child.kill("SIGKILL");
    await running.exited;
  }
}

async function bundleAppBridge() {
  mkdirSync(BUILD_DIR, { recursive: true });
  await esbuild.build({
    stdin: {
      contents:
        'export { AppBridge, PostMessageTransport, LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/ext-apps/app-bridge";',
      resolveDir: HERE,
      loader: "js",
      sourcefile: "app-bridge-entry.js",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    outfile: join(BUILD_DIR, "app-bridge.js"),
    logLevel: "error",
  });
}

/** Serves the host page and the AppBridge bundle, nothing else; records every hit. */
function startStaticServer() {
  const files = {
    "/": { path: join(HERE, "host.html"), type: "text/html; charset=utf-8" },
    "/build/app-bridge.js": { path: join(BUILD_DIR, "app-bridge.js"), type: "text/javascript; charset=utf-8" },
  };
  const hits = [];
  const srv = http.createServer((req, res) => {
    hits.push(req.url);
    const file = files[new URL(req.url, "http://x").pathname];
    if (!file || req.method !== "GET") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" });
    res.end(readFileSync(file.path));
  });
  return new Promise((r) =>
    srv.listen(0, "127.0.0.1", () => r({ server: srv, origin: `http://127.0.0.1:${srv.address().port}`, hits })),
  );
}

// ---------------------------------------------------------------------------------------------
// The host's MCP client: plain HTTP, one stateless 2026-07-28 request per call

let nextId = 1;
async function mcp(method, params = {}, name) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": PROTOCOL_VERSION,
    "mcp-method": method,
  };
  if (name !== undefined) headers["mcp-name"] = name;
  const id = nextId++;
  const res = await fetch(`${server.base}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: REQUEST_META } }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, `${method}: HTTP ${res.status}: ${body}`);
  let message;
  if ((res.headers.get("content-type") || "").includes("text/event-stream")) {
    for (const event of body.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      const parsed = JSON.parse(data);
      if (parsed.id === id) message = parsed;
    }
  } else {
    message = JSON.parse(body);
  }
  assert.ok(message, `${method}: no JSON-RPC response with id ${id} in: ${body}`);
  assert.equal(message.error, undefined, `${method}: ${JSON.stringify(message.error)}`);
  return message.result;
}

// ---------------------------------------------------------------------------------------------
// Browser side

/**
 * A fresh browser context + host page, with every request and console message recorded, from
 * every frame. Chromium logs each CSP violation on the console ("... violates the following
 * Content Security Policy directive ..."); that is the reliable channel here: an init script's
 * `securitypolicyviolation` listener was seen to arrive in the sandboxed View frame only after
 * its document had loaded, missing the violations.
 */
async function openHost() {
  const context = await browser.newContext({ viewport: { width: 680, height: 400 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const record = { requests: [], console: [], pageErrors: [] };
  context.on("request", (req) => {
    record.requests.push({ url: req.url(), mainFrame: req.frame() === page.mainFrame() });
  });
  page.on("console", (m) => record.console.push({ type: m.type(), text: m.text(), url: m.location().url }));
  page.on("pageerror", (e) => record.pageErrors.push(String(e)));
  await page.goto(`${staticServer.origin}/`);
  await page.waitForFunction(() => window.hostReady === true);
  return { context, page, record };
}

async function appFrame(page) {
  const handle = await page.waitForSelector("iframe.mcp-app", { state: "attached" });
  const frame = await handle.contentFrame();
  assert.ok(frame, "the View's iframe has a frame");
  return frame;
}

/** The View's rendered state, read inside the sandboxed frame. */
function readView(frame) {
  return frame.evaluate(() => {
    const card = document.getElementById("card");
    const cardStyle = getComputedStyle(card);
    const rect = card.getBoundingClientRect();
    return {
      origin: self.origin,
      theme: document.documentElement.dataset.theme,
      colorScheme: getComputedStyle(document.documentElement).colorScheme,
      name: document.getElementById("name").textContent,
      message: document.getElementById("message").textContent,
      messageHtml: document.getElementById("message").innerHTML,
      elementsInText: document.querySelectorAll("#name *, #message *").length,
      background: cardStyle.backgroundColor,
      color: cardStyle.color,
      fontFamily: cardStyle.fontFamily,
      cardBottom: rect.bottom,
      viewportHeight: window.innerHeight,
    };
  });
}

/** Fails on any request that is not the host page's own load from the test's static server. */
function assertNoForeignRequests(record) {
  const foreign = record.requests.filter(
    (r) => !r.mainFrame || !r.url.startsWith(`${staticServer.origin}/`),
  );
  assert.deepEqual(foreign, [], "no network request may leave the View (or go anywhere but the host's own origin)");
  const cspMessages = record.console.filter((m) => /Content Security Policy/i.test(m.text));
  assert.deepEqual(cspMessages, [], "no CSP violation reported on the console");
}

// ---------------------------------------------------------------------------------------------

describe("greeting_card MCP App in a real AppBridge host", () => {
  /** What the host learned over MCP: the tool, the View's HTML and the call's result. */
  const discovered = {};

  /**
   * What `window.host.render` gets by default — the discovered View in a light host, with the
   * tool's input and the server's result — with `overrides` laid over it.
   */
  function renderOptions(overrides = {}) {
    return {
      html: discovered.html,
      csp: APP_CSP,
      hostContext: THEMES.light,
      toolInput: TOOL_ARGS,
      toolResult: discovered.result,
      ...overrides,
    };
  }

  before(async () => {
    const bin = buildOutpost();
    server = await startOutpost(bin);
    await bundleAppBridge();
    staticServer = await startStaticServer();
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopOutpost(server);
    await new Promise((r) => (staticServer ? staticServer.server.close(r) : r()));
  });

  test("host discovers the app over MCP HTTP: tools/list, resources/read, tools/call", async () => {
    const list = await mcp("tools/list");
    const tool = list.tools.find((t) => t.name === "greeting_card");
    assert.ok(tool, "tools/list has greeting_card");
    const uri = getToolUiResourceUri(tool);
    assert.equal(uri, "ui://outpost/greeting-card");

    const read = await mcp("resources/read", { uri }, uri);
    assert.equal(read.contents.length, 1);
    const [content] = read.contents;
    assert.equal(content.uri, uri);
    assert.equal(content.mimeType, RESOURCE_MIME_TYPE);
    assert.equal(typeof content.text, "string");
    assert.match(content.text, /^<!doctype html>/i);

    const result = await mcp("tools/call", { name: "greeting_card", arguments: TOOL_ARGS }, "greeting_card");
    assert.notEqual(result.isError, true);
    assert.deepEqual(result.structuredContent, { username: TOOL_ARGS.name, message: TOOL_ARGS.message });

    Object.assign(discovered, { tool, html: content.text, result });
  });

  for (const themeName of Object.keys(THEMES)) {
    test(`renders through AppBridge in a ${themeName} host`, async () => {
      assert.ok(discovered.html, "discovery test ran first");
      const hostContext = THEMES[themeName];
      const vars = hostContext.styles.variables;
      const { context, page, record } = await openHost();
      try {
        const state = await page.evaluate(
          (opts) => window.host.render(opts),
          {
            html: discovered.html,
            csp: APP_CSP,
            hostContext: { ...hostContext, toolInfo: { tool: discovered.tool } },
            toolInput: TOOL_ARGS,
            toolResult: discovered.result,
          },
        );

        // Handshake: ui/initialize answered, ui/notifications/initialized seen by AppBridge.
        assert.equal(state.initialized.length, 1, "AppBridge saw ui/notifications/initialized once");
        assert.equal(state.appInfo?.name, "outpost-greeting-card");
        assert.ok(state.appCapabilities, "the View sent appCapabilities");

        const frame = await appFrame(page);
        await frame.waitForFunction(
          (expected) => document.getElementById("message").textContent === expected,
          TOOL_ARGS.message,
          { timeout: 10_000, polling: 100 },
        );
        // Let a size report that follows the render arrive and the iframe resize.
        await page.waitForFunction(() => window.host.snapshot().sizes.length > 0, null, { timeout: 10_000 });
        await page.waitForTimeout(300);

        const view = await readView(frame);
        assert.equal(view.origin, "null", "the View runs in an opaque (sandboxed) origin");
        assert.equal(view.name, TOOL_ARGS.name);
        assert.equal(view.message, TOOL_ARGS.message, "the message is shown as text, <b> literally");
        assert.equal(view.elementsInText, 0, "no element was injected from the tool's text");
        assert.match(view.messageHtml, /&lt;b&gt;Ada&lt;\/b&gt;/);
        assert.ok(await frame.locator("#message").isVisible(), "message visible");
        assert.ok(await frame.locator("#name").isVisible(), "name visible");
        assert.equal(await frame.locator("#message").innerText(), TOOL_ARGS.message);
        assert.equal(await frame.locator("#name").innerText(), TOOL_ARGS.name);

        // Theme: the host's variables, not the View's fallbacks.
        assert.equal(view.theme, hostContext.theme);
        // A scheme that differs from the host page's makes Chromium paint an opaque backdrop
        // (white around a dark card) behind the iframe.
        assert.equal(view.colorScheme, hostContext.theme, "the View's color-scheme follows the host theme");
        assert.equal(view.background, hexToRgb(vars["--color-background-primary"]), "card background = host variable");
        assert.equal(view.color, hexToRgb(vars["--color-text-primary"]), "card text colour = host variable");
        assert.equal(view.fontFamily, vars["--font-sans"], "card font = host --font-sans");

        // Size reporting: a positive height, and the iframe sized so the card is not clipped.
        const after = await page.evaluate(() => window.host.snapshot());
        assert.ok(after.sizes.some((s) => s.height > 0), `size-changed with a positive height: ${JSON.stringify(after.sizes)}`);
        assert.ok(after.iframeHeight > 0, "host resized the iframe");
        assert.ok(view.cardBottom <= view.viewportHeight, `card fits the iframe (${view.cardBottom} <= ${view.viewportHeight})`);

        // Host-initiated requests get answers.
        assert.deepEqual(await page.evaluate(() => window.host.ping()), {});

        await page.screenshot({ path: join(ARTIFACTS, `greeting-card-${themeName}.png`), fullPage: true });

        assert.deepEqual(await page.evaluate(() => window.host.teardown()), {});

        // Isolation: nothing left the iframe, no CSP violation, no errors.
        assertNoForeignRequests(record);
        const final = await page.evaluate(() => window.host.snapshot());
        assert.deepEqual(final.errors, [], "AppBridge reported no errors");
        assert.deepEqual(record.pageErrors, [], "no uncaught errors in host or View");
        const bridgeWarnings = record.console.filter((m) => m.type === "warning" || m.type === "error");
        assert.deepEqual(bridgeWarnings, [], "no warnings or errors on the console (AppBridge flags protocol misuse there)");
      } finally {
        await context.close();
      }
    });
  }

  test("a failed call shows the tool's error, a cancelled one says so: never 'Waiting for the host…'", async () => {
    assert.ok(discovered.html, "discovery test ran first");
    // The server's own answer to a call without the required `message`.
    const failed = await mcp("tools/call", { name: "greeting_card", arguments: {} }, "greeting_card");
    assert.equal(failed.isError, true, JSON.stringify(failed));
    const cases = [
      { toolInput: {}, toolResult: failed, outcome: "failed", message: /^The card could not be made: .*message/ },
      { toolInput: TOOL_ARGS, cancelledBecause: "the user stopped it", outcome: "cancelled", message: /^The greeting was cancelled: the user stopped it$/ },
    ];
    for (const { outcome, message, ...sent } of cases) {
      const { context, page, record } = await openHost();
      try {
        await page.evaluate((opts) => window.host.render(opts), renderOptions(sent));
        const frame = await appFrame(page);
        await frame.waitForFunction(
          (expected) => document.getElementById("card").dataset.outcome === expected,
          outcome,
          { timeout: 10_000, polling: 100 },
        );
        const view = await readView(frame);
        assert.match(view.message, message);
        // A call without a name is the tool's default "friend", as its input schema says.
        assert.equal(view.name, sent.toolInput.name ?? "friend");
        assert.ok(await frame.locator("#message").isVisible(), "the outcome is visible");
        await page.screenshot({ path: join(ARTIFACTS, `greeting-card-${outcome}.png`), fullPage: true });
        assertNoForeignRequests(record);
        assert.deepEqual(record.pageErrors, [], "no uncaught errors in host or View");
      } finally {
        await context.close();
      }
    }
  });

  test("follows a live host-context change (light → dark)", async () => {
    assert.ok(discovered.html, "discovery test ran first");
    const { context, page, record } = await openHost();
    try {
      await page.evaluate((opts) => window.host.render(opts), renderOptions());
      const frame = await appFrame(page);
      await page.evaluate((ctx) => window.host.setHostContext(ctx), THEMES.dark);
      const dark = THEMES.dark.styles.variables;
      await frame.waitForFunction(
        (bg) => getComputedStyle(document.getElementById("card")).backgroundColor === bg,
        hexToRgb(dark["--color-background-primary"]),
        { timeout: 10_000, polling: 100 },
      );
      const view = await readView(frame);
      assert.equal(view.theme, "dark");
      assert.equal(view.color, hexToRgb(dark["--color-text-primary"]));
      assertNoForeignRequests(record);
    } finally {
      await context.close();
    }
  });

  test("control: the no-network check catches a View that tries to load something", async () => {
    // Proves the isolation assertions above are not vacuous: the same host, a View that
    // reaches for the network: Chromium reports the CSP blocks, the check fails, and nothing
    // reaches the (local) server.
    const { context, page, record } = await openHost();
    try {
      const probeUrl = `${staticServer.origin}/canary.png`;
      const canary = `<!doctype html><html><head></head><body><main id="card"><h1 id="name"></h1><p id="message"></p></main>
<img src="${probeUrl}"><script>fetch(${JSON.stringify(`${staticServer.origin}/canary.json`)}).catch(() => {});</script></body></html>`;
      await page.evaluate(
        (opts) => window.host.render(opts).catch((e) => String(e)),
        {
          html: canary,
          csp: APP_CSP,
          hostContext: THEMES.light,
          toolInput: {},
          toolResult: { content: [] },
          timeoutMs: 1500,
        },
      );
      await appFrame(page);
      const cspMessages = () => record.console.filter((m) => /Content Security Policy/i.test(m.text));
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
        if (cspMessages().length >= 2) break;
      }
      const texts = cspMessages().map((m) => m.text);
      assert.ok(texts.some((t) => t.includes("/canary.png")), JSON.stringify(texts));
      assert.ok(texts.some((t) => t.includes("/canary.json")), JSON.stringify(texts));
      assert.ok(cspMessages().every((m) => m.url === "about:srcdoc"), "reported from the View's frame");
      assert.throws(() => assertNoForeignRequests(record));
      assert.ok(!staticServer.hits.some((h) => h.startsWith("/canary")), "the CSP kept the canary off the wire");
    } finally {
      await context.close();
    }
  });
});

// Last resort if the runner is interrupted: never leave the server behind.
process.once("exit", () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
});
