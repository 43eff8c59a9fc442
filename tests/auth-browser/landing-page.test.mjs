// The landing page (`GET /`) in headless Chromium: the server's name, version and MCP URL, the
// ways to connect, the revisions and authentication it offers, and its status — with no
// request beyond the page itself (self-contained), in light and dark colour schemes.
//
// Run with `node --test` in this folder (scripts/auth-browser-test.sh does the npm ci first).
// The caller builds outpost: OUTPOST_BIN=/path/to/outpost, default <repo>/target/debug/outpost.
// Screenshots go to artifacts/landing-page/.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const ARTIFACTS = join(REPO, "artifacts", "landing-page");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const OUTPOST_BIN = resolve(process.env.OUTPOST_BIN || join(REPO, "target", "debug", "outpost"));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

let server; // { child, base, output, exited }
let browser;
let storeDir;

async function startOutpost() {
  const port = await freePort();
  const child = spawn(
    OUTPOST_BIN,
    ["serve", "--demo", "--bind", `127.0.0.1:${port}`, "--store", `sqlite://${join(storeDir, "o.db")}`],
    { cwd: storeDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((r) => child.once("exit", () => r()));
  const running = { child, base: `http://127.0.0.1:${port}`, output: () => log, exited };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${running.base}/health`)).status === 200) return running;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`outpost did not answer GET /health with 200:\n${log}`);
}

describe("the landing page", () => {
  before(async () => {
    assert.ok(existsSync(OUTPOST_BIN), `no outpost binary at ${OUTPOST_BIN}`);
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);
    storeDir = mkdtempSync(join(tmpdir(), "outpost-landing-"));
    server = await startOutpost();
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (server) {
      server.child.kill("SIGTERM");
      await Promise.race([server.exited, sleep(5000)]);
      server.child.kill("SIGKILL");
    }
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  for (const colorScheme of ["light", "dark"]) {
    test(`shows what the server is and how to connect (${colorScheme})`, async (t) => {
      const context = await browser.newContext({ viewport: { width: 900, height: 900 }, colorScheme });
      t.after(() => context.close().catch(() => {}));
      const page = await context.newPage();
      const requests = [];
      const problems = [];
      context.on("request", (request) => requests.push(request.url()));
      page.on("console", (message) => problems.push(`${message.type()}: ${message.text()}`));
      page.on("pageerror", (error) => problems.push(String(error)));

      const response = await page.goto(`${server.base}/`);
      assert.equal(response.status(), 200);
      const headers = response.headers();
      assert.match(headers["content-type"], /^text\/html/);
      assert.match(headers["content-security-policy"], /default-src 'none'/);
      assert.ok(headers["x-request-id"], "the page has a request id");

      const mcpUrl = `${server.base}/mcp`;
      assert.equal(await page.title(), "Outpost reference server · MCP server");
      assert.equal(await page.textContent("#mcp-url"), mcpUrl);
      const health = await (await fetch(`${server.base}/health`)).json();
      assert.equal(await page.textContent("#status"), health.status);
      const text = await page.textContent("main");
      for (const expected of [
        "outpost-reference",
        "MCP Inspector",
        `outpost connect ${mcpUrl}`,
        "streamable_http_client",
        "StreamableHTTPClientTransport",
        "Add custom connector",
        "OAuth 2.1",
        `${server.base}/.well-known/oauth-protected-resource/mcp`,
      ]) {
        assert.ok(text.includes(expected), `the page mentions ${expected}`);
      }
      const revisions = await page.$$eval("#revisions li code", (codes) => codes.map((c) => c.textContent));
      for (const revision of ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]) {
        assert.ok(revisions.includes(revision), `revision ${revision} in ${revisions}`);
      }
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(background, colorScheme === "dark" ? "rgb(13, 17, 23)" : "rgb(244, 245, 247)");

      await page.screenshot({ path: join(ARTIFACTS, `landing-${colorScheme}.png`), fullPage: true });
      assert.deepEqual(requests, [`${server.base}/`], "the page loads nothing else");
      assert.deepEqual(problems, []);
    });
  }
});
