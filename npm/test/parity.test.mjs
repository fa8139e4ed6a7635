// The parity table (tests/parity/*.json and hostile/) through the npm package in Node: every
// scenario against a fresh dev server, asserting the outcome, error code and requests per
// endpoint the table gives. native/tests/parity.rs runs the same table through the native
// driver; tests/parity/README.md describes the vocabulary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { McpAuth, MemoryStorage, McpAuthError, nodePkg } from './helpers.mjs';
import { root, startDevserver } from './devserver.mjs';

// scenarios.json, then the other files beside it (dpop.json, machine.json) and then each file of hostile/ (misbehaving
// servers), both in name order, as the native runner reads them.
const parity = join(root, 'tests/parity');
const jsonFiles = (dir) => (existsSync(join(parity, dir)) ? readdirSync(join(parity, dir)).filter((f) => f.endsWith('.json') && statSync(join(parity, dir, f)).isFile()).sort().map((f) => join(dir, f)) : []);
const files = ['scenarios.json', ...jsonFiles('.').filter((f) => f !== 'scenarios.json'), ...jsonFiles('hostile')];
const table = { scenarios: files.flatMap((f) => JSON.parse(readFileSync(join(parity, f), 'utf8')).scenarios) };

/** Starts a dev server for `scenario`; its `mcp` is the URL the client is given (with the scenario's query). */
async function startScenarioServer(scenario) {
  const args = [];
  const server = scenario.server ?? {};
  if (server.autoApprove ?? true) args.push('--auto-approve');
  if (server.issuerPath) args.push('--issuer-path', server.issuerPath);
  if ('challengeScope' in server) {
    if (server.challengeScope === null) args.push('--no-challenge-scope');
    else args.push('--challenge-scope', server.challengeScope);
  }
  const started = await startDevserver(args);
  const query = scenario.serverQuery;
  return { ...started, mcp: query ? `${started.mcp}?${query}` : started.mcp };
}

/** A browser for the dev server, which approves at once: it follows the authorization URL to the loopback callback. */
function browser({ forge = false, follow = true } = {}) {
  return async (url) => {
    if (forge) {
      const redirectUri = new URL(url).searchParams.get('redirect_uri');
      const forged = await fetch(`${redirectUri}?code=forged&state=not-this-login`);
      assert.equal(forged.status, 400, 'a forged callback gets an error page');
      await forged.body?.cancel();
    }
    if (follow) await (await fetch(url, { redirect: 'follow' })).text();
  };
}

/** Runs one step; resolves to what it came to, in the table's terms. */
async function runStep(world, step) {
  const { mcp } = world.server;
  const auth = (extra = {}) =>
    new McpAuth({
      storage: world.storage,
      clientName: 'mcpauth parity',
      now: () => Date.now() + world.offset,
      // virtualTime: the client's pauses move both clocks instead of passing.
      sleep: world.virtualTime
        ? async (ms) => {
            const step = Math.ceil(ms);
            await world.server.dev('clock', { advance_ms: step });
            world.offset += step;
          }
        : undefined,
      requestTimeout: step.requestTimeoutMs ?? 30_000,
      onForeignCallback: () => world.foreign++,
      profile: step.profile,
      ...extra,
    });
  const failed = (error) => {
    assert.ok(error instanceof McpAuthError, `every failure is an McpAuthError, got ${error?.name}: ${error?.message}`);
    return { error: [error.code, error.message] };
  };
  switch (step.do) {
    case 'login': {
      const before = world.foreign;
      const client = auth();
      const options = { scope: step.scope, timeout: step.timeoutMs, probe: step.probe };
      if (step.omitResource) options.dangerouslyOmitResource = true;
      // `dpop` and `clientCredentials` are options of the client, as the native login's are of the login.
      const login = { timeout: step.timeoutMs, dangerouslyOmitResource: step.omitResource, dpop: step.dpop === true };
      if (step.clientCredentials) {
        login.grant = { kind: 'client_credentials' };
        login.preRegistered = { clientId: step.clientCredentials.clientId, clientSecret: step.clientCredentials.clientSecret, authMethod: step.clientCredentials.authMethod };
      }
      let outcome;
      try {
        const grant = step.clientCredentials
          ? await auth(login).login(mcp, options)
          : step.flow === 'device'
            ? await auth(login).deviceLogin(mcp, { ...options, onPrompt: () => {} })
            : await nodePkg.loopbackLogin(auth(login), mcp, {
                ...options,
                print: () => {},
                openBrowser: browser({ forge: step.forgedCallback, follow: step.browser !== 'none' }),
              });
        const status = await client.status(mcp);
        world.lastToken = grant.tokens.access_token;
        outcome = { scope: grant.tokens.scope, statusIdentity: status?.identity };
      } catch (error) {
        outcome = failed(error);
      }
      outcome.foreignCallbacks = world.foreign - before;
      return outcome;
    }
    case 'token':
      try {
        const token = await auth().accessToken(mcp);
        return { sameAsLogin: token === world.lastToken };
      } catch (error) {
        return failed(error);
      }
    case 'tokens':
      try {
        const client = auth();
        const tokens = await Promise.all(Array.from({ length: step.concurrent }, () => client.accessToken(mcp)));
        return { allEqual: tokens.every((t) => t === tokens[0]) };
      } catch (error) {
        return failed(error);
      }
    case 'fetch': {
      const client = auth();
      const onAuthorizationRequired = step.login
        ? (required) => nodePkg.loopbackLogin(client, required.serverUrl, { ...required.options, print: () => {}, openBrowser: browser() })
        : undefined;
      const f = client.authFetch(undefined, { onAuthorizationRequired });
      try {
        const response = await f(mcp, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
        });
        await response.body?.cancel();
        return { status: response.status };
      } catch (error) {
        return failed(error);
      }
    }
    case 'logout':
      try {
        await auth().logout(mcp);
        return {};
      } catch (error) {
        return failed(error);
      }
    case 'status': {
      const status = await auth().status(mcp);
      return { logins: status === undefined ? 0 : 1 };
    }
    case 'clock':
      world.offset += step.advanceMs;
      await world.server.dev('clock', { advance_ms: step.advanceMs });
      return {};
    case 'faults':
      await world.server.dev('faults', step.set);
      return {};
    default:
      throw new Error(`unknown step ${step.do}`);
  }
}

/** The differences between `outcome` and the step's `expect`, in words. */
function compare(outcome, expect = {}) {
  const wrong = [];
  const check = (ok, what) => ok || wrong.push(what);
  const [code, message] = outcome.error ?? [];
  if (expect.ok) check(code === undefined, `expected success, got ${code}: ${message}`);
  if (expect.status !== undefined) check(outcome.status === expect.status, `expected status ${expect.status}, got ${outcome.status} / ${code}: ${message}`);
  if (expect.error) check(code === expect.error, `expected ${expect.error}, got ${code}: ${message}`);
  if (expect.errorOneOf) check(expect.errorOneOf.includes(code), `expected one of ${expect.errorOneOf}, got ${code}: ${message}`);
  if (expect.messageIncludes) check((message ?? '').includes(expect.messageIncludes), `message ${JSON.stringify(message)} lacks ${JSON.stringify(expect.messageIncludes)}`);
  if (expect.scope) check(outcome.scope === expect.scope, `expected scope ${expect.scope}, got ${outcome.scope}`);
  for (const field of ['allEqual', 'sameAsLogin']) {
    if (expect[field] !== undefined) check(outcome[field] === expect[field], `expected ${field} ${expect[field]}, got ${outcome[field]}`);
  }
  if (expect.statusIdentity) check(outcome.statusIdentity === expect.statusIdentity, `expected status to show ${expect.statusIdentity}, got ${outcome.statusIdentity}`);
  if (expect.logins !== undefined) check(outcome.logins === expect.logins, `expected ${expect.logins} logins, got ${outcome.logins}`);
  if (expect.foreignCallbacks !== undefined) check(outcome.foreignCallbacks === expect.foreignCallbacks, `expected ${expect.foreignCallbacks} foreign callbacks, got ${outcome.foreignCallbacks}`);
  return wrong;
}

/** The differences between the dev server's counters and the scenario's. */
function compareCounts(stats, scenario) {
  const wrong = [];
  for (const [field, key] of [['requests', 'requests'], ['tokenGrants', 'token_grants']]) {
    for (const [name, want] of Object.entries(scenario[field] ?? {})) {
      const got = stats[key][name] ?? 0;
      if (got !== want) wrong.push(`${field}.${name}: expected ${want}, got ${got}`);
    }
  }
  // Whatever the scenario, no secret goes where it must not (the dev server's `leaks`).
  for (const leak of stats.leaks ?? []) wrong.push(`leak: ${leak}`);
  for (const [name, want] of Object.entries(scenario.stats ?? {})) {
    // Deep equality, as the native runner compares JSON values: some counters are lists.
    if (!isDeepStrictEqual(stats[name], want)) wrong.push(`stats.${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(stats[name])}`);
  }
  return wrong;
}

for (const scenario of table.scenarios) {
  test(`parity: ${scenario.name}`, { timeout: 60_000 }, async () => {
    const server = await startScenarioServer(scenario);
    try {
      if (scenario.faults) await server.dev('faults', scenario.faults);
      // Pre-registered clients, before the first step.
      for (const client of scenario.clients ?? []) await server.dev('clients', client);
      const world = { server, storage: new MemoryStorage(), offset: 0, foreign: 0, lastToken: undefined, virtualTime: scenario.virtualTime === true };
      const wrong = [];
      for (const [i, step] of scenario.steps.entries()) {
        for (const w of compare(await runStep(world, step), step.expect)) wrong.push(`step ${i + 1} (${step.do}): ${w}`);
      }
      wrong.push(...compareCounts(await server.dev('stats'), scenario));
      assert.deepEqual(wrong, []);
    } finally {
      server.child.kill();
    }
  });
}
