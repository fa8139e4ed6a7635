/**
 * `mcpauth/sdk`: mcpauth as the `authProvider` of the MCP TypeScript SDK's HTTP transports.
 *
 * ```ts
 * const transport = new StreamableHTTPClientTransport(new URL(serverUrl), {
 *   authProvider: new McpAuthProvider(auth, serverUrl, { login: (ctx) => loopbackLogin(auth, serverUrl, ctx.options) }),
 * });
 * ```
 *
 * How the SDK's `auth()` and mcpauth share the work: the SDK keeps calling the provider where it
 * always does, and every answer comes from mcpauth, so the SDK never sends an OAuth request of
 * its own:
 * - `tokens()` is mcpauth's access token, refreshed by mcpauth. The refresh token is never
 *   handed to the SDK, so the SDK never refreshes.
 * - `discoveryState()` is mcpauth's discovery (issuer and resource checks included), so the SDK
 *   fetches no metadata.
 * - `clientInformation()` tells the SDK a client exists, so it does not register one; the real
 *   client identity is chosen by mcpauth when the login starts.
 * - `redirectToAuthorization()` ignores the SDK's URL and starts an mcpauth login (its own PKCE,
 *   `state`, scope and `resource`), asking for the scope the transport was challenged with.
 * - The login ends in {@link McpAuthProvider.finishAuth} (or inside the `login` option), where
 *   mcpauth checks `state` and `iss` and exchanges the code. `transport.finishAuth(code)` is
 *   refused: a bare code cannot be checked against `iss`.
 *
 * The SDK types are imported as types only: this module has no runtime dependency on the SDK.
 *
 * @module
 */

import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';

import type { AuthorizationOptions, McpAuth } from './client.js';
import { McpAuthError } from './errors.js';
import type { Discovered, Grant } from './wire.js';

/** What the `login` option is told. */
export interface ProviderLogin {
  /** The MCP server to log in to. */
  serverUrl: string;
  /** Options to pass on to `loopbackLogin`, `popupLogin` or `McpAuth.authorizationUrl`: the challenged and the held scope. */
  options: AuthorizationOptions;
}

/** Options of {@link McpAuthProvider}. Give `login` or `onRedirect`. */
export interface McpAuthProviderOptions {
  /**
   * Runs a whole login and resolves when the grant is stored, for example
   * `(ctx) => loopbackLogin(auth, ctx.serverUrl, ctx.options)` in a CLI. The transport still
   * reports `UnauthorizedError` for the request that needed the login (that is the SDK's
   * contract); connect again and the new token is used.
   */
  login?: (login: ProviderLogin) => Promise<unknown>;
  /**
   * Sends the user agent to mcpauth's authorization URL (in a browser, `location.assign`).
   * Finish with {@link McpAuthProvider.finishAuth} on the redirect URI's page.
   */
  onRedirect?: (authorizationUrl: URL) => void | Promise<void>;
  /** The `client_name` the SDK reports in `clientMetadata`. Default `"mcpauth"`. */
  clientName?: string;
}

/** An SDK `OAuthClientProvider` whose every OAuth step is mcpauth's. */
export class McpAuthProvider implements OAuthClientProvider {
  readonly #auth: McpAuth;
  readonly #serverUrl: string;
  readonly #options: McpAuthProviderOptions;
  /** The discovery of the current `auth()` round, shared by the SDK's next calls in it. */
  #discovered: Discovered | undefined;

  /**
   * @param auth The mcpauth client holding storage and configuration.
   * @param serverUrl The MCP endpoint this provider authorizes (the transport's URL).
   */
  constructor(auth: McpAuth, serverUrl: string | URL, options: McpAuthProviderOptions = {}) {
    if (!options.login && !options.onRedirect) {
      throw new McpAuthError('INVALID_PARAMETER', 'McpAuthProvider needs a `login` or an `onRedirect` option');
    }
    this.#auth = auth;
    this.#serverUrl = String(serverUrl);
    this.#options = options;
  }

  /**
   * The redirect URI configured on the `McpAuth`. It must be defined for the SDK to treat the
   * flow as interactive; a loopback login replaces it with its own when the login starts.
   */
  get redirectUrl(): string {
    return this.#auth.redirectUri ?? 'http://127.0.0.1/callback';
  }

  /** Only reported to the SDK, which registers nothing itself (see the module docs). */
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.#options.clientName ?? 'mcpauth', redirect_uris: [this.redirectUrl] };
  }

  /** mcpauth's access token, refreshed by mcpauth; `undefined` when a login is needed. No refresh token. */
  async tokens(): Promise<OAuthTokens | undefined> {
    try {
      return { access_token: await this.#auth.accessToken(this.#serverUrl), token_type: 'Bearer' };
    } catch (err) {
      if (err instanceof McpAuthError && err.code === 'LOGIN_REQUIRED') return undefined;
      throw err;
    }
  }

  /** Never called: the SDK only saves tokens it obtained, and it obtains none. */
  saveTokens(): never {
    throw new McpAuthError('INVALID_STATE', 'mcpauth stores its own tokens; the SDK must not obtain any');
  }

  /** mcpauth's discovery, run afresh at the start of each of the SDK's `auth()` rounds. */
  async discoveryState(): Promise<OAuthDiscoveryState> {
    const discovered = await this.#auth.discover(this.#serverUrl);
    this.#discovered = discovered;
    // The core's records keep the documents' own (RFC 8414, RFC 9728) field names.
    return {
      authorizationServerUrl: discovered.issuer,
      authorizationServerMetadata: discovered.metadata as unknown as OAuthDiscoveryState['authorizationServerMetadata'],
      resourceMetadata: (discovered.resource_metadata ?? undefined) as unknown as OAuthDiscoveryState['resourceMetadata'],
    };
  }

  /** Nothing to save: mcpauth's discovery is the one used. */
  saveDiscoveryState(): void {}

  /** The resource mcpauth's discovery validated, so the SDK does not choose one. */
  async validateResourceURL(): Promise<URL | undefined> {
    return this.#discovered && new URL(this.#discovered.resource);
  }

  /**
   * A stand-in, bound to the discovered issuer, that keeps the SDK from registering a client.
   * The SDK uses it only for the authorization URL that {@link redirectToAuthorization}
   * discards; mcpauth picks the real identity (pre-registered, CIMD or registration).
   */
  clientInformation(): OAuthClientInformationMixed | undefined {
    if (!this.#discovered) return undefined;
    return { client_id: 'mcpauth-chooses-at-login', issuer: this.#discovered.issuer } as OAuthClientInformationMixed;
  }

  /** Starts mcpauth's login; the SDK's own authorization URL is not used. */
  async redirectToAuthorization(sdkAuthorizationUrl: URL): Promise<void> {
    const held: Grant | undefined = await this.#auth.grant(this.#serverUrl);
    const options: AuthorizationOptions = {
      // The scope the transport was challenged with (or the resource's scopes_supported when the
      // challenge had none): the SDK passes it only through its URL.
      challenge: { scope: sdkAuthorizationUrl.searchParams.get('scope') },
      // Re-authorizing keeps what was granted: the core requests the union.
      previousScope: held?.tokens.scope ?? undefined,
    };
    if (this.#options.login) {
      await this.#options.login({ serverUrl: this.#serverUrl, options });
      return;
    }
    const { url } = await this.#auth.authorizationUrl(this.#serverUrl, options);
    await this.#options.onRedirect?.(new URL(url));
  }

  /** mcpauth keeps its own verifier with the pending authorization. */
  saveCodeVerifier(): void {}

  /** Refuses the SDK's code exchange: finish with {@link finishAuth} and the full callback URL. */
  codeVerifier(): never {
    throw new McpAuthError(
      'INVALID_STATE',
      'complete the login with McpAuthProvider.finishAuth(callbackUrl), not transport.finishAuth(code): ' +
        'the state and iss checks need the whole callback URL',
    );
  }

  /**
   * Completes a redirect login with the URL the authorization server redirected to (checks
   * `state` and `iss`, exchanges the code, stores the grant). Then connect the transport again.
   */
  async finishAuth(callbackUrl: string | URL): Promise<Grant> {
    return this.#auth.handleCallback(String(callbackUrl));
  }

  /** Drops the grant when the SDK reports the server rejected it. */
  async invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (scope !== 'all' && scope !== 'tokens') return;
    await this.#auth.logout(this.#serverUrl, { revoke: false }).catch((err: unknown) => {
      // Nothing stored: nothing to drop.
      if (!(err instanceof McpAuthError && err.code === 'LOGIN_REQUIRED')) throw err;
    });
  }
}
