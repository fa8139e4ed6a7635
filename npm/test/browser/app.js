// The test app: the npm package as a page loads it (ES modules from /pkg/, the .wasm next to
// them). `/?flow=redirect` logs in with a full-page redirect, `/?flow=popup` shows a button
// that logs in through a popup, `/?flow=dpop` logs in with a full-page redirect asking for
// DPoP-bound tokens (its key non-extractable in IndexedDB). `/callback` is the redirect URI for
// all. `/?flow=dpop-call` calls the MCP server with the stored DPoP grant (after a page load).
// When the MCP tool call has gone through, the outcome is in `window.mcpauthResult` and on the
// page.
import {
  McpAuth,
  WebStorage,
  completeRedirectLogin,
  popupLogin,
  postCallbackToOpener,
  redirectLogin,
} from '/pkg/index.js';

const status = (text) => (document.getElementById('status').textContent = text);
const { mcp } = await (await fetch('/config.json')).json();

const auth = new McpAuth({
  redirectUri: `${location.origin}/callback`,
  clientName: 'mcpauth browser test',
  storage: new WebStorage(localStorage),
  sessionStorage: new WebStorage(sessionStorage),
});

// The DPoP logins keep their grant apart from the others'.
const dpopAuth = new McpAuth({
  redirectUri: `${location.origin}/callback`,
  clientName: 'mcpauth browser test (DPoP)',
  storage: new WebStorage(localStorage, 'mcpauth-dpop:'),
  sessionStorage: new WebStorage(sessionStorage, 'mcpauth-dpop:'),
  dpop: true,
});

/** The key pair IndexedDB holds under `id` (what mcpauth stored at the login). */
async function storedKeyPair(id) {
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open('mcpauth-keys');
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  try {
    return await new Promise((ok, fail) => {
      const get = db.transaction('dpop').objectStore('dpop').get(id);
      get.onsuccess = () => ok(get.result);
      get.onerror = () => fail(get.error);
    });
  } finally {
    db.close();
  }
}

/** One authorized MCP call with the stored DPoP grant, and what can be learnt of its key. */
async function callWithDpop(stage) {
  const grant = await dpopAuth.grant(mcp);
  const key = grant.dpop_key;
  const pair = await storedKeyPair(key.private.id);
  let exported;
  try {
    await crypto.subtle.exportKey('pkcs8', pair.privateKey);
    exported = 'pkcs8';
  } catch {
    try {
      await crypto.subtle.exportKey('jwk', pair.privateKey);
      exported = 'jwk';
    } catch {
      exported = null;
    }
  }
  const f = dpopAuth.authFetch();
  await rpc(f, 1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser', version: '0' } });
  const call = await rpc(f, 2, 'tools/call', { name: 'echo', arguments: { text: `dpop ${stage}` } });
  const result = {
    flow: 'dpop',
    stage,
    tokenType: grant.tokens.token_type,
    keyKind: key.private.kind,
    keyId: key.private.id,
    extractable: pair.privateKey.extractable,
    exported,
    status: call.status,
    text: call.body.result?.content?.[0]?.text,
  };
  document.getElementById('result').textContent = JSON.stringify(result, null, 2);
  status(`done: ${result.text}`);
  window.mcpauthResult = result;
}

async function rpc(f, id, method, params) {
  const res = await f(mcp, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  return { status: res.status, body: await res.json() };
}

async function callMcp(flow, grant) {
  const f = auth.authFetch();
  await rpc(f, 1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser', version: '0' } });
  const call = await rpc(f, 2, 'tools/call', { name: 'echo', arguments: { text: `hello from ${flow}` } });
  // A refresh in the page (one at a time across tabs, through navigator.locks), then a call with the new token.
  const refreshed = await auth.refresh(mcp);
  const again = await rpc(f, 3, 'tools/call', { name: 'echo', arguments: { text: 'after refresh' } });
  const result = {
    flow,
    issuer: grant.issuer,
    scope: grant.tokens.scope,
    status: call.status,
    text: call.body.result?.content?.[0]?.text,
    refreshed: refreshed.tokens.access_token !== grant.tokens.access_token,
    afterRefresh: again.body.result?.content?.[0]?.text,
  };
  document.getElementById('result').textContent = JSON.stringify(result, null, 2);
  status(`done: ${result.text}`);
  window.mcpauthResult = result;
}

function fail(err) {
  status(`failed: ${err.code ?? ''} ${err.message}`);
  window.mcpauthResult = { error: err.code ?? err.message };
}

const flow = new URLSearchParams(location.search).get('flow');
try {
  if (location.pathname === '/callback' && sessionStorage.getItem('flow') === 'dpop') {
    sessionStorage.removeItem('flow');
    await completeRedirectLogin(dpopAuth);
    await callWithDpop('after login');
  } else if (location.pathname === '/callback') {
    // In the popup: hand the response to the opener, which exchanges the code.
    if (!postCallbackToOpener()) {
      const grant = await completeRedirectLogin(auth);
      if (location.search !== '') throw new Error('the callback URL was not cleaned');
      await callMcp('redirect', grant);
    }
  } else if (flow === 'redirect') {
    status('redirecting…');
    await redirectLogin(auth, mcp);
  } else if (flow === 'dpop') {
    status('redirecting…');
    sessionStorage.setItem('flow', 'dpop');
    await redirectLogin(dpopAuth, mcp);
  } else if (flow === 'dpop-call') {
    await callWithDpop('after a page load');
  } else if (flow === 'popup') {
    const button = document.getElementById('popup');
    button.hidden = false;
    button.onclick = () => popupLogin(auth, mcp).then((grant) => callMcp('popup', grant)).catch(fail);
    status('ready');
  }
} catch (err) {
  fail(err);
}
