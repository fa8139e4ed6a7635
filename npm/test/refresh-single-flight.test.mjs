// One refresh however many callers ask, in one Node process, against the dev server: a hundred
// concurrent authFetch requests the server answers 401, and a hundred concurrent accessToken()
// calls on an expired token, at token lifetimes of 2 s, 20 s and 1 h; and a token is refreshed
// once, when it enters its margin, not on every call. The dev server rotates refresh tokens and
// counts reuse, so a second refresh with a rotated-out token shows as refresh_reuse_detected.
// The client's clock is frozen and moved by the tests together with the dev server's, so a 2 s
// token expires when the test says. Processes sharing one store: redis.test.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { McpAuth, MemoryStorage, rpc } from './helpers.mjs';
import { login, startDevserver } from './redis-servers.mjs';

const LIFETIMES_MS = [2_000, 20_000, 3_600_000];
const CALLERS = 100;
/** How far past its expiry the tests move a token's clocks. */
const PAST_EXPIRY_MS = 1_000;

/**
 * A dev server issuing access tokens of `lifetimeMs`, and an McpAuth logged in to it whose clock
 * stands still until `advance` moves it (and the server's) forward.
 */
async function loggedIn(lifetimeMs) {
  const server = await startDevserver();
  await server.dev('faults', { access_token_ttl_ms: lifetimeMs });
  const clock = { now: Date.now() };
  const auth = new McpAuth({ storage: new MemoryStorage(), now: () => clock.now });
  const grant = await login(auth, server.mcp);
  return {
    server,
    auth,
    grant,
    advance: async (ms) => {
      clock.now += ms;
      await server.dev('clock', { advance_ms: ms });
    },
    /** Asserts the refreshes the server saw so far, and that no rotated-out refresh token came back. */
    assertRefreshes: async (refreshes, message) => {
      const stats = await server.dev('stats');
      assert.equal(stats.refreshes, refreshes, `${message}: refreshes`);
      assert.equal(stats.refresh_reuse_detected, 0, `${message}: refresh token reuse`);
    },
    stop: () => server.child.kill(),
  };
}

/** The one value of `values`, which all callers must share. */
function one(values, message) {
  assert.ok(values.every((v) => v === values[0]), `${message}: callers got different tokens`);
  return values[0];
}

const times = (n, call) => Promise.all(Array.from({ length: n }, call));

// The dev server's clock cannot be frozen: a 2 s token could expire on a slow machine between the
// refresh and the resent request, and a second refresh would then be right. So authFetch runs at
// the lifetimes a slow machine cannot exhaust; accessToken() below covers 2 s.
for (const lifetimeMs of [20_000, 3_600_000]) {
  test(`${CALLERS} concurrent authFetch requests answered 401 make one refresh (${lifetimeMs / 1000} s tokens)`, { timeout: 60_000 }, async () => {
    const world = await loggedIn(lifetimeMs);
    try {
      // The server's clock passes the token's expiry; the client's does not, so the client
      // sends the token and learns from the 401.
      await world.server.dev('clock', { advance_ms: lifetimeMs + PAST_EXPIRY_MS });
      const mcpFetch = world.auth.authFetch();
      const answers = await times(CALLERS, (_, i) => rpc(mcpFetch, world.server.mcp, 'tools/list', {}, i + 1));
      assert.deepEqual(answers.map((a) => a.status), Array(CALLERS).fill(200), 'every request succeeds');
      await world.assertRefreshes(1, 'after the 401s');
      const stats = await world.server.dev('stats');
      assert.ok(stats.mcp_unauthorized >= 1, 'the server refused the old token');
      const token = await world.auth.accessToken(world.server.mcp);
      assert.notEqual(token, world.grant.tokens.access_token, 'a new token is stored');
    } finally {
      world.stop();
    }
  });
}

for (const lifetimeMs of LIFETIMES_MS) {
  test(`${CALLERS} concurrent accessToken() callers on an expired token make one refresh (${lifetimeMs / 1000} s tokens)`, { timeout: 60_000 }, async () => {
    const world = await loggedIn(lifetimeMs);
    try {
      await world.advance(lifetimeMs + PAST_EXPIRY_MS);
      const token = one(await times(CALLERS, () => world.auth.accessToken(world.server.mcp)), 'expired');
      assert.notEqual(token, world.grant.tokens.access_token, 'the token was refreshed');
      await world.assertRefreshes(1, 'expired');
      // Fresh for the moved clock: the next call sends nothing, and the server takes the token.
      assert.equal(await world.auth.accessToken(world.server.mcp), token);
      await world.assertRefreshes(1, 'fresh');
      const mcpFetch = world.auth.authFetch();
      assert.equal((await rpc(mcpFetch, world.server.mcp, 'tools/list')).status, 200);
    } finally {
      world.stop();
    }
  });
}

/** How long after it was issued the core refreshes a token: once less than 30 s, or half its lifetime if that is less, is left. */
const refreshDueAfterMs = (lifetimeMs) => lifetimeMs - Math.min(30_000, lifetimeMs / 2);

// Twenty callers at once every 0.3 lifetimes, for 3.6 lifetimes. A margin that swallowed a short
// token whole would refresh on every call (240 refreshes); the core refreshes each token once, in
// the round after it has less than its margin left: every second round for 2 s and 20 s tokens,
// every fourth for 1 h tokens.
for (const [lifetimeMs, total] of [[2_000, 6], [20_000, 6], [3_600_000, 3]]) {
  test(`tokens are refreshed once each when due, not on every call (${lifetimeMs / 1000} s tokens)`, { timeout: 60_000 }, async () => {
    const world = await loggedIn(lifetimeMs);
    try {
      const step = (lifetimeMs * 3) / 10;
      let [age, expected, current] = [0, 0, world.grant.tokens.access_token];
      for (let round = 1; round <= 12; round++) {
        await world.advance(step);
        age += step;
        const refreshing = age >= refreshDueAfterMs(lifetimeMs);
        if (refreshing) [expected, age] = [expected + 1, 0];
        const token = one(await times(20, () => world.auth.accessToken(world.server.mcp)), `round ${round}`);
        assert.equal(token !== current, refreshing, `round ${round}: refreshed?`);
        current = token;
        await world.assertRefreshes(expected, `round ${round}`);
      }
      assert.equal(expected, total, "the rounds' model");
    } finally {
      world.stop();
    }
  });
}
