// Drives Outpost's embedded OAuth 2.1 authorization server the way a person does: a public
// native client registered over HTTP (RFC 7591), then /authorize with PKCE (S256) in headless
// Chromium: login page, a wrong password, the right one, the consent page, approve, and the
// redirect back to a loopback callback. The code is then redeemed at /token.
//
// A second run does the same through pages replaced by the example templates
// (examples/page-templates, `outpost serve --page-templates`, with --brand-* flags): a replaced
// login page still signs in, under the server's CSP.
//
// Run with `node --test` in this folder (scripts/auth-browser-test.sh does the npm ci first).
// The caller builds outpost: OUTPOST_BIN=/path/to/outpost, default <repo>/target/debug/outpost.
// Screenshots go to artifacts/auth-browser/.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const ARTIFACTS = join(REPO, "artifacts", "auth-browser");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const OUTPOST_BIN = resolve(process.env.OUTPOST_BIN || join(REPO, "target", "debug", "outpost"));

const CLIENT_NAME = "Browser Test Client";
const STATE = "xyz";
const SCOPE = "mcp";

// ---------------------------------------------------------------------------------------------
// Process and server plumbing

let server; // { child, base, output: () => string, exited }
let callback; // { server, port, hits: string[] }
let browser;
let storeDir;

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

async function startOutpost(bin, dir, extraArgs = []) {
  const port = await freePort();
  const child = spawn(
    bin,
    [
      "serve",
      "--demo",
      "--bind",
      `127.0.0.1:${port}`,
      "--store",
      `sqlite://${join(dir, "o.db")}`,
      ...extraArgs,
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  child.once("error", (e) => (log += `spawn error: ${e}\n`));
  const running = { child, base: `http://127.0.0.1:${port}`, output: () => log, exited };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
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

/** The redirect target of the client: answers 200 "done" on /callback. */
async function startCallback() {
  const port = await freePort();
  const hits = [];
  const srv = http.createServer((req, res) => {
    if (!req.url.startsWith("/favicon.ico")) hits.push(req.url);
    const path = new URL(req.url, `http://127.0.0.1:${port}`).pathname;
    if (req.method === "GET" && path === "/callback") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("done");
    } else if (path === "/favicon.ico") {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found");
    }
  });
  await new Promise((r, reject) => {
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", r);
  });
  return { server: srv, port, hits };
}

function stopCallback(cb) {
  if (!cb) return Promise.resolve();
  cb.server.closeAllConnections?.();
  return new Promise((r) => cb.server.close(() => r()));
}

const b64url = (buf) => buf.toString("base64url");

/**
 * Registers a public native client (RFC 7591) redirecting to `redirectUri`, and builds its
 * /authorize URL with PKCE (S256), `state` and `resource`.
 */
async function startAuthorization(base, redirectUri, resource) {
  // Dynamic client registration of a public native client.
  const regRes = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "none",
      application_type: "native",
      client_name: CLIENT_NAME,
    }),
  });
  const regText = await regRes.text();
  assert.equal(regRes.status, 201, `POST /register: ${regRes.status} ${regText}`);
  const reg = JSON.parse(regText);
  assert.ok(reg.client_id, `registration returned a client_id: ${regText}`);
  const clientId = reg.client_id;

  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const authorize = new URL(`${base}/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state: STATE,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: SCOPE,
    resource,
  })) {
    authorize.searchParams.set(k, v);
  }
  return { clientId, verifier, authorize };
}

/** Redeems `code` at /token and checks that an access token comes back. */
async function redeemCode(base, { clientId, redirectUri, code, verifier }) {
  const tokenRes = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: verifier,
    }),
  });
  const tokenText = await tokenRes.text();
  assert.equal(tokenRes.status, 200, `POST /token: ${tokenRes.status} ${tokenText}`);
  const token = JSON.parse(tokenText);
  assert.ok(typeof token.access_token === "string" && token.access_token.length > 0, tokenText);
  assert.match(String(token.token_type), /^bearer$/i, tokenText);
}

/** Headless Chromium, as the tests drive it. */
function launchChromium() {
  return chromium.launch({
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
}

// ---------------------------------------------------------------------------------------------

describe("OAuth 2.1 authorization code + PKCE through the login and consent pages", () => {
  before(async () => {
    if (!existsSync(OUTPOST_BIN)) {
      throw new Error(
        `outpost binary not found at ${OUTPOST_BIN}: build it first (cargo build -p outpost-cli) ` +
          "or point OUTPOST_BIN at it",
      );
    }
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_BIN)`);
    }
    storeDir = mkdtempSync(join(tmpdir(), "outpost-auth-browser-"));
    server = await startOutpost(OUTPOST_BIN, storeDir);
    callback = await startCallback();
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopCallback(callback).catch(() => {});
    await stopOutpost(server).catch(() => {});
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  test("login (wrong then right password), consent, redirect with code, token exchange", async (t) => {
    const base = server.base;
    const redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    const resource = `${base}/mcp`;

    const { clientId, verifier, authorize } = await startAuthorization(base, redirectUri, resource);

    const context = await browser.newContext({ viewport: { width: 800, height: 700 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const record = { requests: [], console: [], pageErrors: [] };
    context.on("request", (req) => record.requests.push(req.url()));
    page.on("console", (m) => record.console.push({ type: m.type(), text: m.text(), url: m.location().url }));
    page.on("pageerror", (e) => record.pageErrors.push(String(e)));
    t.after(() => context.close().catch(() => {}));

    try {
      // 1. The login page.
      const first = await page.goto(authorize.href);
      assert.equal(first.status(), 200, "GET /authorize answers 200 with the login page");
      await page.getByRole("heading", { name: "Sign in" }).waitFor({ state: "visible" });
      assert.ok(await page.getByLabel("Username").isVisible(), "Username field visible");
      assert.ok(await page.getByLabel("Password").isVisible(), "Password field visible");
      assert.ok(await page.getByRole("button", { name: "Sign in" }).isVisible(), "Sign in button visible");
      assert.match(await page.locator("main").innerText(), new RegExp(CLIENT_NAME), "login names the client");
      assert.deepEqual(record.console, [], "login page: nothing on the console");
      assert.deepEqual(record.pageErrors, [], "login page: no page errors");
      await page.screenshot({ path: join(ARTIFACTS, "1-login.png"), fullPage: true });

      // 2. A wrong password.
      await page.getByLabel("Username").fill("alice");
      await page.getByLabel("Password").fill("not-the-password");
      const [wrong] = await Promise.all([
        page.waitForNavigation(),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      assert.equal(wrong.status(), 401, "a wrong password answers 401 with the login form again");
      await page.getByText("Wrong username or password").waitFor({ state: "visible" });
      assert.ok(await page.getByLabel("Password").isVisible(), "still on the login form after the error");
      assert.equal(await page.getByLabel("Password").inputValue(), "", "password is not echoed back");
      await page.screenshot({ path: join(ARTIFACTS, "2-login-error.png"), fullPage: true });

      // 3. The right password: the consent page.
      await page.getByLabel("Username").fill("alice");
      await page.getByLabel("Password").fill("password123");
      await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Sign in" }).click()]);
      await page.getByText(CLIENT_NAME).first().waitFor({ state: "visible" });
      const consentText = await page.locator("body").innerText();
      assert.match(consentText, new RegExp(`\\b${SCOPE}\\b`), `consent page shows the scope:\n${consentText}`);
      assert.doesNotMatch(consentText, /Wrong username or password/, "no error on the consent page");
      await page.screenshot({ path: join(ARTIFACTS, "3-consent.png"), fullPage: true });

      // 4. Approve: the browser lands on the client's callback.
      const buttons = await page.locator("button").evaluateAll((bs) => bs.map((b) => b.outerHTML));
      const approve = page.getByRole("button", { name: "Approve", exact: true });
      assert.equal(await approve.count(), 1, `exactly one Approve button:\n${buttons.join("\n")}`);
      assert.ok(await approve.isVisible(), "Approve button visible");
      assert.ok(await page.getByRole("button", { name: "Deny", exact: true }).isVisible(), "Deny button visible");
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 15_000 }),
        approve.click(),
      ]);
      const landed = new URL(page.url());
      assert.equal(`${landed.origin}${landed.pathname}`, redirectUri);
      assert.equal(await page.locator("body").innerText(), "done");
      const code = landed.searchParams.get("code");
      assert.ok(code, `callback carries a code: ${landed.href}`);
      assert.equal(landed.searchParams.get("state"), STATE, "state is echoed");
      assert.equal(landed.searchParams.get("iss"), base, "iss (RFC 9207) is the issuer");
      assert.equal(landed.searchParams.get("error"), null, "no error on the callback");
      assert.equal(callback.hits.length, 1, `the callback was hit once: ${callback.hits.join(", ")}`);

      // Browser hygiene across the whole flow.
      const foreign = record.requests.filter((u) => {
        try {
          return new URL(u).hostname !== "127.0.0.1";
        } catch {
          return true;
        }
      });
      assert.deepEqual(foreign, [], "no request left 127.0.0.1");
      // Chromium logs every non-2xx document load; the 401 of the wrong-password POST is expected.
      const expected401 = (m) =>
        m.url === `${base}/login` && /status of 401 \(Unauthorized\)/.test(m.text);
      const consoleErrors = record.console.filter(
        (m) => (m.type === "error" || m.type === "warning") && !expected401(m),
      );
      assert.deepEqual(consoleErrors, [], "no console errors or warnings");
      assert.deepEqual(record.pageErrors, [], "no page errors");

      // 5. Redeem the code.
      await redeemCode(base, { clientId, redirectUri, code, verifier });
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, "failure.png"), fullPage: true }).catch(() => {});
      err.message += `\n--- page ${page.url()}\n--- requests:\n${record.requests.join("\n")}` +
        `\n--- console:\n${JSON.stringify(record.console, null, 1)}\n--- server log:\n${server.output()}`;
      throw err;
    }
  });
});

describe("the same flow through pages replaced by templates (--page-templates, --brand-*)", () => {
  const TEMPLATES = join(REPO, "examples", "page-templates");
  let replaced; // the server with replaced pages
  let replacedDir;
  let replacedCallback;
  let chromiumForReplaced;

  before(async () => {
    replacedDir = mkdtempSync(join(tmpdir(), "outpost-auth-browser-pages-"));
    replaced = await startOutpost(OUTPOST_BIN, replacedDir, [
      "--page-templates",
      TEMPLATES,
      "--brand-name",
      "Acme Cloud",
      "--brand-logo",
      join(TEMPLATES, "logo.svg"),
      "--brand-color",
      "accent=#0f766e",
    ]);
    replacedCallback = await startCallback();
    mkdirSync(ARTIFACTS, { recursive: true });
    chromiumForReplaced = await launchChromium();
  });

  after(async () => {
    await chromiumForReplaced?.close().catch(() => {});
    await stopCallback(replacedCallback).catch(() => {});
    await stopOutpost(replaced).catch(() => {});
    if (replacedDir) rmSync(replacedDir, { recursive: true, force: true });
  });

  test("a replaced login page signs in; consent, code, token as before", async (t) => {
    const base = replaced.base;
    const redirectUri = `http://127.0.0.1:${replacedCallback.port}/callback`;
    const { clientId, verifier, authorize } = await startAuthorization(base, redirectUri, `${base}/mcp`);

    const context = await chromiumForReplaced.newContext({ viewport: { width: 800, height: 700 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const record = { requests: [], console: [], pageErrors: [] };
    context.on("request", (req) => record.requests.push(req.url()));
    page.on("console", (m) => record.console.push({ type: m.type(), text: m.text(), url: m.location().url }));
    page.on("pageerror", (e) => record.pageErrors.push(String(e)));
    t.after(() => context.close().catch(() => {}));

    try {
      // The replaced login page: its own heading, labels and button, the brand, the logo.
      const first = await page.goto(authorize.href);
      assert.equal(first.status(), 200);
      const csp = first.headers()["content-security-policy"];
      assert.match(csp, /^default-src 'none';/, `the server's CSP stays: ${csp}`);
      await page.getByRole("heading", { name: "Welcome back" }).waitFor({ state: "visible" });
      assert.match(await page.locator(".masthead").innerText(), /Acme Cloud/);
      const logoLoaded = await page
        .locator(".masthead img")
        .evaluate((img) => img.complete && img.naturalWidth > 0);
      assert.ok(logoLoaded, "the inlined logo is shown under the CSP");
      const accent = await page.evaluate(() =>
        getComputedStyle(document.documentElement).getPropertyValue("--accent").trim(),
      );
      assert.equal(accent, "#0f766e", "--brand-color accent reaches the template");
      await page.screenshot({ path: join(ARTIFACTS, "replaced-1-login.png"), fullPage: true });

      // A wrong password: the replaced page again, with the message.
      await page.getByLabel("Account name").fill("alice");
      await page.getByLabel("Password").fill("not-the-password");
      const [wrong] = await Promise.all([
        page.waitForNavigation(),
        page.getByRole("button", { name: "Continue" }).click(),
      ]);
      assert.equal(wrong.status(), 401);
      await page.getByText("Wrong username or password").waitFor({ state: "visible" });

      // The right password, the replaced consent page, Allow.
      await page.getByLabel("Account name").fill("alice");
      await page.getByLabel("Password").fill("password123");
      await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Continue" }).click()]);
      await page.getByRole("heading", { name: `Allow ${CLIENT_NAME}?` }).waitFor({ state: "visible" });
      await page.screenshot({ path: join(ARTIFACTS, "replaced-2-consent.png"), fullPage: true });
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 15_000 }),
        page.getByRole("button", { name: "Allow", exact: true }).click(),
      ]);
      const landed = new URL(page.url());
      const code = landed.searchParams.get("code");
      assert.ok(code, `callback carries a code: ${landed.href}`);
      assert.equal(landed.searchParams.get("state"), STATE);

      const foreign = record.requests.filter((u) => {
        try {
          return !["127.0.0.1"].includes(new URL(u).hostname) && !u.startsWith("data:");
        } catch {
          return true;
        }
      });
      assert.deepEqual(foreign, [], "no request left 127.0.0.1");
      const expected401 = (m) =>
        m.url === `${base}/login` && /status of 401 \(Unauthorized\)/.test(m.text);
      const consoleErrors = record.console.filter(
        (m) => (m.type === "error" || m.type === "warning") && !expected401(m),
      );
      assert.deepEqual(consoleErrors, [], "no console errors or warnings (no CSP violation)");
      assert.deepEqual(record.pageErrors, [], "no page errors");

      await redeemCode(base, { clientId, redirectUri, code, verifier });
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, "replaced-failure.png"), fullPage: true }).catch(() => {});
      err.message += `\n--- page ${page.url()}\n--- requests:\n${record.requests.join("\n")}` +
        `\n--- console:\n${JSON.stringify(record.console, null, 1)}\n--- server log:\n${replaced.output()}`;
      throw err;
    }
  });
});
