// The app each bundler builds: the npm package imported by its name, a full-page redirect login
// at the server named by /config.json, then an authorized MCP tool call. `/callback` is the
// redirect URI. The outcome goes into #result (JSON) and `window.mcpauthResult`.
import { McpAuth, WebStorage, completeRedirectLogin, redirectLogin } from 'mcpauth';

const status = (text) => (document.getElementById('status').textContent = text);

function show(result) {
  document.getElementById('result').textContent = JSON.stringify(result, null, 2);
  window.mcpauthResult = result;
}

async function rpc(authFetch, mcp, id, method, params) {
  const res = await authFetch(mcp, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  return { status: res.status, body: await res.json() };
}

async function main() {
  const { mcp, label } = await (await fetch('/config.json')).json();
  const auth = new McpAuth({
    redirectUri: `${location.origin}/callback`,
    clientName: `mcpauth app (${label})`,
    storage: new WebStorage(localStorage),
    sessionStorage: new WebStorage(sessionStorage),
  });
  if (location.pathname !== '/callback') {
    status('signing in…');
    await redirectLogin(auth, mcp);
    return;
  }
  const grant = await completeRedirectLogin(auth);
  const authFetch = auth.authFetch();
  const clientInfo = { name: 'mcpauth-bundled-app', version: '0' };
  await rpc(authFetch, mcp, 1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo });
  const call = await rpc(authFetch, mcp, 2, 'tools/call', { name: 'echo', arguments: { text: `hello from ${label}` } });
  show({ status: call.status, text: call.body.result?.content?.[0]?.text, accessToken: grant.tokens.access_token });
  status('done');
}

main().catch((error) => {
  show({ error: error.code ?? String(error), message: error.message });
  status('failed');
});
