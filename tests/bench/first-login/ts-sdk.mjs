// A first login with the MCP TypeScript SDK's client, as its OAuth example does it: the
// transport gets an OAuthClientProvider, `connect` fails with UnauthorizedError after handing
// the authorization URL to the provider, `finishAuth(code)` exchanges the code, and a new
// transport connects. Then one `tools/call`.
//
//   node ts-sdk.mjs <mcp url>

import { approve, sdk } from './browser.mjs';

const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { UnauthorizedError } = await sdk('client/auth.js');

const server = new URL(process.argv[2]);
const redirectUrl = 'http://127.0.0.1:9/callback';
let callback;

// The SDK's example keeps everything in memory like this.
const provider = {
  stored: {},
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return { client_name: 'ts-sdk bench', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  },
  clientInformation: () => provider.stored.client,
  saveClientInformation: (info) => void (provider.stored.client = info),
  tokens: () => provider.stored.tokens,
  saveTokens: (tokens) => void (provider.stored.tokens = tokens),
  redirectToAuthorization: async (url) => {
    callback = new URL(await approve(url.href));
  },
  saveCodeVerifier: (v) => void (provider.stored.verifier = v),
  codeVerifier: () => provider.stored.verifier,
};

const client = new Client({ name: 'ts-sdk bench', version: '0' });
try {
  await client.connect(new StreamableHTTPClientTransport(server, { authProvider: provider }));
} catch (err) {
  if (!(err instanceof UnauthorizedError)) throw err;
  const transport = new StreamableHTTPClientTransport(server, { authProvider: provider });
  await transport.finishAuth(callback.searchParams.get('code'));
  await client.connect(transport);
}
const result = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
console.log(JSON.stringify(result.content));
await client.close();
