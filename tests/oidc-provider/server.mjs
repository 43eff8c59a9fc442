// A real OpenID provider (panva's oidc-provider) for Outpost's external-issuer tests.
//
//   node server.mjs PORT
//
// Issuer http://127.0.0.1:PORT. Resource indicators on: every resource gets RS256 JWT access
// tokens (typ at+jwt, with preferred_username) unless POST /admin/opaque registered it for
// opaque tokens; introspection and revocation on. Clients:
//   mcp-test       public, authorization code + PKCE, redirect http://127.0.0.1/callback
//   mcp-short      the same, access tokens live 2 s
//   introspector   confidential (client_secret_basic, secret "introspector-secret"), may
//                  introspect every token
//   (POST /admin/client adds a client: its JSON metadata, e.g. Outpost's upstream-login client
//   with its secret and callback; a known client_id gets the new redirect_uris added)
// Users: NAME signs in as subject "sub-NAME" with preferred_username NAME and the verified email
// NAME@example.com; NAME "unverified-X" has an unverified email, NAME "X@DOMAIN" the verified
// email X@DOMAIN (preferred_username X). The email and profile claims are in the UserInfo
// answer, not in ID tokens (conformIdTokenClaims, below).
// Interactions are headless: GET /interaction/UID answers 200 "login" for the login prompt
// (POST /interaction/UID/login with login=NAME signs NAME in, subject "sub-NAME") and grants
// every requested scope at once for the consent prompt.
// Admin routes: POST /admin/opaque (body: the resource URL) — opaque tokens for it;
// POST /admin/rotate — a new signing key replaces the old one (dropped from the JWKS).
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const opaqueResources = new Set();
const REDIRECT_URI = 'http://127.0.0.1/callback';
const extraClients = [];
let currentKey;

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function claimsOf(accountId) {
  const login = accountId.replace(/^sub-/, '');
  const [name, domain] = login.includes('@') ? login.split('@') : [login, 'example.com'];
  return {
    sub: accountId,
    preferred_username: name,
    name,
    email: `${name}@${domain}`,
    email_verified: !name.startsWith('unverified-'),
  };
}

function makeProvider(key) {
  currentKey = key;
  const provider = new Provider(issuer, {
    clients: [
      ...['mcp-test', 'mcp-short'].map((client_id) => ({
        client_id,
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      })),
      {
        client_id: 'introspector',
        client_secret: 'introspector-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [],
        grant_types: [],
        response_types: [],
      },
      ...extraClients,
    ],
    jwks: { keys: [key] },
    cookies: { keys: ['outpost-test-cookie-key'] },
    scopes: ['openid', 'email', 'profile', 'mcp', 'mcp:admin'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
    },
    // oidc-provider's default: with the code flow, the scopes' claims (email, profile) are in
    // the UserInfo answer, not in the ID token (OpenID Connect Core §5.4) — Outpost's upstream
    // login reads them there.
    conformIdTokenClaims: true,
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => claimsOf(accountId) }),
    extraTokenClaims: (_ctx, token) =>
      token.accountId ? { preferred_username: token.accountId.replace(/^sub-/, '') } : undefined,
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => ({
          scope: 'mcp mcp:admin',
          audience: resource,
          accessTokenTTL: client.clientId === 'mcp-short' ? 2 : 600,
          ...(opaqueResources.has(resource)
            ? { accessTokenFormat: 'opaque' }
            : { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        }),
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  return provider;
}

let provider = makeProvider(signingKey());

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (action !== 'login') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('login');
      return;
    }
    const login = new URLSearchParams(await readBody(req)).get('login');
    await provider.interactionFinished(req, res, { login: { accountId: `sub-${login}` } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (req.method === 'POST' && url.pathname === '/admin/opaque') {
      opaqueResources.add((await readBody(req)).trim());
      return res.writeHead(204).end();
    }
    if (req.method === 'POST' && url.pathname === '/admin/client') {
      const client = JSON.parse(await readBody(req));
      const known = extraClients.find((c) => c.client_id === client.client_id);
      if (known) known.redirect_uris = [...new Set([...known.redirect_uris, ...client.redirect_uris])];
      else extraClients.push(client);
      provider = makeProvider(currentKey);
      return res.writeHead(204).end();
    }
    if (req.method === 'POST' && url.pathname === '/admin/rotate') {
      const key = signingKey();
      provider = makeProvider(key);
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: key.kid }));
    }
    return provider.callback()(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) res.writeHead(500).end(String(error));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
