/**
 * `McpAuth`: the high-level OAuth 2.1 client for MCP servers.
 *
 * It decides nothing about OAuth itself. Discovery order, scope selection, client identity,
 * `state` and `iss` checks, token parsing, expiry, refresh and revocation are calls into the
 * wasm core (`./core.js`). This file keeps what the core cannot: storage, one refresh at a time
 * per server (promise sharing), and the retry loop of {@link McpAuth.authFetch}.
 *
 * @module
 */

import * as core from './core.js';
import type { AuthChallenge, ClientCredentials, Discovered, Grant, LoginOptions, Policy, Registration, TokenSet } from './core.js';
import { localError, McpAuthError } from './errors.js';
import { MemoryStorage, type Storage } from './storage.js';

/** Credentials registered out of band with one authorization server. */
export interface PreRegisteredClient {
  /** The issuer they belong to, exactly as its metadata states it. They are sent nowhere else. */
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** `client_secret_basic`, `client_secret_post` or `none`; by default the core picks one the server supports. */
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
}

/** Options of {@link McpAuth}. */
export interface McpAuthOptions {
  /**
   * Where the authorization server sends the browser back (for redirect and popup logins). A
   * CLI using `loopbackLogin` or `deviceLogin` may leave it out.
   */
  redirectUri?: string;
  /** The name users see on the consent screen, sent with dynamic registration. Default `"mcpauth"`. */
  clientName?: string;
  /** `native` (desktop, CLI, localhost) or `web` (hosted web app), for dynamic registration; default: the core's choice. */
  applicationType?: 'native' | 'web';
  /**
   * The https URL where this client hosts its client ID metadata document (CIMD). It is the
   * `client_id` at servers that support CIMD; others get a dynamic registration.
   */
  clientMetadataUrl?: string;
  /**
   * Pre-registered credentials. One object: used with every server, and a server with another
   * issuer is an error (`CREDENTIALS_FOR_OTHER_ISSUER`) instead of a silent fallback. A list:
   * each entry only at its own issuer.
   */
  preRegistered?: PreRegisteredClient | PreRegisteredClient[];
  /** An explicit scope for every login, replacing the MCP selection rules. */
  scope?: string;
  /** Grants and registrations. Default: a {@link MemoryStorage}. */
  storage?: Storage;
  /**
   * Pending authorizations (PKCE verifier and `state`) between the redirect and the callback.
   * Default: `storage`. In browsers use `new WebStorage(sessionStorage)`.
   */
  sessionStorage?: Storage;
  /** The core's security policy (plain-http test servers, legacy 2025-03-26 fallbacks, ...). */
  policy?: Policy;
  /** The fetch every OAuth request goes through. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Options of {@link McpAuth.authorizationUrl} and of the login helpers built on it. */
export interface AuthorizationOptions {
  /** The challenge (from {@link McpAuth.challenge}) that made this login necessary. */
  challenge?: AuthChallenge;
  /** An explicit scope, replacing the MCP selection rules. */
  scope?: string;
  /** The `scope` of the 401 or 403 challenge, if not given as `challenge`. */
  challengeScope?: string;
  /** Scopes held before, for a step-up: the core requests their union with the challenge's. */
  previousScope?: string;
  /** Overrides {@link McpAuthOptions.redirectUri} (the loopback login does). */
  redirectUri?: string;
  /** Extra authorization parameters (`prompt`, ...); the core refuses reserved names. */
  extraParams?: [string, string][];
  /** A fresh discovery result to use instead of discovering again. */
  discovered?: Discovered;
}

/** What {@link McpAuth.authorizationUrl} returns. */
export interface AuthorizationStart {
  /** Send the user agent here. */
  url: string;
  /** The `state` of this request; the pending authorization is stored under it. */
  state: string;
}

/** What {@link McpAuthFetchOptions.onAuthorizationRequired} is told. */
export interface AuthorizationRequired {
  /** The MCP server that needs a (new) login. */
  serverUrl: string;
  /** `unauthorized` (401: no token, or one the server no longer accepts) or `insufficient_scope` (403: step-up). */
  reason: AuthChallenge['kind'];
  /** The challenge, as the core read it. */
  challenge: AuthChallenge;
  /** Discovery run again for this challenge (the server may have moved to another authorization server). */
  discovered: Discovered;
  /** The scope the login will request, as the core computes it (a union with the held scope for a step-up). */
  scope: string | undefined;
  /** The attempt number for this server and operation (the core refuses after its limit). */
  attempt: number;
  /** Options to pass on to `loopbackLogin`, `popupLogin`, `redirectLogin` or {@link McpAuth.authorizationUrl}. */
  options: AuthorizationOptions;
}

/** Options of {@link McpAuth.authFetch}. */
export interface McpAuthFetchOptions {
  /**
   * The MCP server whose grant authorizes the requests. Default: each request's URL without
   * query and fragment (right for an MCP endpoint).
   */
  serverUrl?: string;
  /**
   * Called when the server wants a login (a 401 that one refresh did not cure, or a 403
   * `insufficient_scope`). Log the user in (for example `ctx => loopbackLogin(auth, ctx.serverUrl,
   * ctx.options)`) and resolve; the request is then retried. Without it, such responses are
   * returned as they are.
   */
  onAuthorizationRequired?: (required: AuthorizationRequired) => Promise<unknown>;
}

/** Options of {@link McpAuth.deviceLogin}. */
export interface DeviceLoginOptions {
  /** Show the user where to go and which code to enter. */
  onPrompt: (prompt: core.DevicePrompt) => void | Promise<void>;
  /** Called after each poll of the token endpoint, for progress display. */
  onPoll?: (status: core.DevicePollStatus) => void;
  /** An explicit scope, replacing the MCP selection rules. */
  scope?: string;
  /** The challenge that made this login necessary. */
  challenge?: AuthChallenge;
  /** Cancels the polling. */
  signal?: AbortSignal;
}

/** Storage record of a pending authorization: everything the callback needs after a page load. */
interface PendingRecord {
  server: string;
  pending: core.PendingAuthorization;
  discovered: Discovered;
  client: ClientCredentials;
  loginOptions: LoginOptions;
  registrationKey: string;
}

const PENDING = 'pending:';
const LATEST_PENDING = 'pending-latest';
const GRANT = 'grant:';
const SERVER = 'server:';

/**
 * An OAuth 2.1 client for MCP servers: discovers, registers, logs in, keeps tokens fresh, and
 * authorizes requests.
 *
 * ```ts
 * const auth = new McpAuth({ redirectUri: "https://app.example/callback", storage });
 * const { url } = await auth.authorizationUrl("https://mcp.example.com/mcp");
 * // ... the user agent comes back to the redirect URI ...
 * await auth.handleCallback(callbackUrl);
 * const mcpFetch = auth.authFetch();
 * ```
 */
export class McpAuth {
  readonly #options: McpAuthOptions;
  readonly #storage: Storage;
  readonly #session: Storage;
  readonly #fetch: typeof fetch;
  /** One refresh per server at a time: concurrent callers share its promise. */
  readonly #refreshing = new Map<string, Promise<Grant>>();
  /** Authorization attempts per (server, operation), counted and limited by the core. */
  readonly #stepUps = new core.StepUpTracker();

  constructor(options: McpAuthOptions = {}) {
    this.#options = options;
    this.#storage = options.storage ?? new MemoryStorage();
    this.#session = options.sessionStorage ?? this.#storage;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The configured redirect URI, if any. */
  get redirectUri(): string | undefined {
    return this.#options.redirectUri;
  }

  /** The options for every core call that talks to a server. */
  get #io(): core.IoOptions {
    return { fetch: this.#fetch, policy: this.#options.policy };
  }

  /**
   * Reads a response's `WWW-Authenticate` the way the core does: `undefined` unless it is a
   * 401, or a 403 with `error="insufficient_scope"`.
   */
  challenge(response: Response): AuthChallenge | undefined {
    return core.classifyResponse(response);
  }

  /**
   * Finds the authorization server of the MCP server at `serverUrl` (RFC 9728 protected
   * resource metadata, then RFC 8414 / OpenID metadata, validated by the core).
   * Pass the challenge of the 401 that prompted it: its `resource_metadata` comes first. With
   * `issuer`, the authorization server is configured rather than discovered.
   */
  async discover(serverUrl: string, options: { challenge?: AuthChallenge; issuer?: string } = {}): Promise<Discovered> {
    return core.discover(serverUrl, {
      ...this.#io,
      resourceMetadata: options.challenge?.challenge.resource_metadata,
      issuer: options.issuer,
    });
  }

  /**
   * The client identity to use at the discovered authorization server, in the MCP order the
   * core applies: pre-registered, then CIMD, then a registration cached for this issuer, then
   * dynamic registration (whose result is cached, keyed by the issuer and redirect URI).
   */
  async register(
    discovered: Discovered,
    options: { redirectUri?: string; deviceGrant?: boolean } = {},
  ): Promise<ClientCredentials> {
    return (await this.#obtainClient(discovered, options)).client;
  }

  async #obtainClient(
    discovered: Discovered,
    options: { redirectUri?: string; deviceGrant?: boolean },
  ): Promise<{ client: ClientCredentials; key: string }> {
    const redirectUri = options.redirectUri ?? this.#options.redirectUri;
    // Keyed by the core's registration key plus what was registered: a loopback login on a new
    // port, or a first device login, needs a registration that lists it.
    const key = `${core.registrationKey(discovered.issuer)} ${redirectUri ?? ''}${options.deviceGrant ? ' device' : ''}`;
    const cached = await this.#read<Registration>(this.#storage, key);
    const { credentials, registration } = await core.obtainClient(
      discovered,
      {
        clientMetadata: core.clientMetadata({
          clientName: this.#options.clientName ?? 'mcpauth',
          redirectUris: redirectUri ? [redirectUri] : [],
          applicationType: this.#options.applicationType,
          deviceGrant: options.deviceGrant ?? false,
        }),
        preregistered: this.#preRegisteredFor(discovered),
        cachedRegistration: cached && !core.registrationIsSecretExpired(cached) ? cached.credentials : undefined,
        metadataDocumentUrl: this.#options.clientMetadataUrl,
      },
      this.#io,
    );
    if (registration) await this.#storage.set(key, JSON.stringify(registration));
    return { client: credentials, key };
  }

  #preRegisteredFor(discovered: Discovered): ClientCredentials | undefined {
    const configured = this.#options.preRegistered;
    if (!configured) return undefined;
    // A single entry goes to the core as it is, so that another issuer is an error there.
    const entry = Array.isArray(configured) ? configured.find((c) => c.issuer === discovered.issuer) : configured;
    return (
      entry && {
        issuer: entry.issuer,
        client_id: entry.clientId,
        client_secret: entry.clientSecret,
        auth_method:
          entry.authMethod ?? core.chooseTokenEndpointAuthMethod(discovered.metadata, entry.clientSecret !== undefined),
      }
    );
  }

  /**
   * Starts a login: discovers (unless `options.discovered` is given), gets a client identity,
   * and builds the authorization URL with the scope and `resource` the core chooses. The
   * pending authorization is stored in the session storage under its `state` until
   * {@link handleCallback}.
   */
  async authorizationUrl(serverUrl: string, options: AuthorizationOptions = {}): Promise<AuthorizationStart> {
    const redirectUri = options.redirectUri ?? this.#options.redirectUri;
    if (!redirectUri) throw localError('NO_REDIRECT_URI', 'authorizationUrl needs a redirectUri (in the options of McpAuth or of this call)');
    const discovered = options.discovered ?? (await this.discover(serverUrl, { challenge: options.challenge }));
    const { client, key } = await this.#obtainClient(discovered, { redirectUri });
    const loginOptions = this.#loginOptions(options);
    const { url, pending } = core.startAuthorization(discovered, client, redirectUri, loginOptions, this.#options.policy);
    const state = pending.state;
    const record: PendingRecord = { server: serverUrl, pending, discovered, client, loginOptions, registrationKey: key };
    await this.#session.set(PENDING + state, JSON.stringify(record));
    await this.#session.set(LATEST_PENDING, state);
    return { url, state };
  }

  /**
   * Forgets a login that will not complete (the user closed the popup, the loopback login timed
   * out): its pending authorization is deleted, so a late callback for it is refused.
   */
  async cancelAuthorization(state: string): Promise<void> {
    await this.#session.delete(PENDING + state);
  }

  #loginOptions(options: AuthorizationOptions): LoginOptions {
    return {
      scope: options.scope ?? this.#options.scope,
      challengeScope: options.challengeScope ?? options.challenge?.challenge.scope,
      previousScope: options.previousScope,
      extraParams: options.extraParams ?? [],
    };
  }

  /**
   * Completes a login with the URL the authorization server redirected to: the core validates
   * it against the pending authorization (`state`, RFC 9207 `iss`, error responses) and
   * exchanges the code. The grant is stored and returned.
   *
   * A callback whose `state` matches no pending authorization is still validated, against the
   * latest one, so the failure is the core's `STATE_MISMATCH` or `STATE_MISSING`; the
   * genuine pending authorization is kept for the real callback.
   */
  /**
   * Whether `callbackUrl` answers the login started with `state` (the core compares the state
   * in constant time). Listeners for the redirect use it to ignore forged callbacks and keep
   * waiting, instead of letting any page that knows the port end the login.
   */
  async callbackBelongs(callbackUrl: string, state: string): Promise<boolean> {
    const record = await this.#read<PendingRecord>(this.#session, PENDING + state);
    return record !== undefined && core.callbackBelongsTo(record.pending, callbackUrl);
  }

  async handleCallback(callbackUrl: string): Promise<Grant> {
    const state = new URL(callbackUrl).searchParams.get('state');
    let record = state === null ? undefined : await this.#read<PendingRecord>(this.#session, PENDING + state);
    if (record) {
      // One use: a replayed callback finds nothing.
      await this.#session.delete(PENDING + state);
    } else {
      const latest = await this.#session.get(LATEST_PENDING);
      record = latest === undefined ? undefined : await this.#read<PendingRecord>(this.#session, PENDING + latest);
      if (!record) throw localError('NO_PENDING_AUTHORIZATION', 'no login in progress in this storage for this callback');
    }
    const response = core.validateAuthorizationResponse(record.pending, callbackUrl);
    let tokens: TokenSet;
    try {
      tokens = await core.exchangeCode(record.pending, response, record.client, this.#io);
    } catch (err) {
      if (core.isInvalidClient(err)) await this.#storage.delete(record.registrationKey);
      throw err;
    }
    const grant = core.newGrant(record.discovered, record.client, tokens, record.loginOptions);
    await this.#storeGrant(record.server, grant);
    return grant;
  }

  /**
   * Logs in with the device authorization grant (RFC 8628), for devices without a browser:
   * `onPrompt` shows the code, the core polls at the pace the server sets. The grant is stored
   * and returned.
   */
  async deviceLogin(serverUrl: string, options: DeviceLoginOptions): Promise<Grant> {
    const discovered = await this.discover(serverUrl, { challenge: options.challenge });
    // With a configured redirect URI the registration serves both flows; without one the client
    // is device-only.
    const { client } = await this.#obtainClient(discovered, { deviceGrant: true });
    const loginOptions = this.#loginOptions(options);
    const tokens = await core.deviceLogin(discovered, client, {
      ...this.#io,
      loginOptions,
      signal: options.signal,
      onPrompt: options.onPrompt,
      onPoll: options.onPoll,
    });
    const grant = core.newGrant(discovered, client, tokens, loginOptions);
    await this.#storeGrant(serverUrl, grant);
    return grant;
  }

  /**
   * Trades a token for another at the server's authorization server (RFC 8693 token
   * exchange). The result is returned, not stored.
   */
  async exchange(serverUrl: string, params: core.TokenExchangeParams): Promise<core.ExchangedToken> {
    const discovered = await this.discover(serverUrl);
    const endpoint = discovered.metadata.token_endpoint;
    if (endpoint === undefined) {
      throw new McpAuthError('MISSING_ENDPOINT', `${discovered.issuer} has no token_endpoint`);
    }
    const { client } = await this.#obtainClient(discovered, {});
    return core.exchangeToken(endpoint, params, client, this.#io);
  }

  /** The stored grant for `serverUrl`, if any (tokens may be expired). */
  async grant(serverUrl: string): Promise<Grant | undefined> {
    const key = await this.#storage.get(SERVER + core.canonicalResourceUri(serverUrl));
    return key === undefined ? undefined : this.#read<Grant>(this.#storage, GRANT + key);
  }

  /**
   * Refreshes the grant of `serverUrl` now (RFC 6749 §6, with rotation). Concurrent calls share
   * one request: a rotated refresh token is never sent twice.
   *
   * @throws `LOGIN_REQUIRED` without a grant; the core's errors otherwise. When the server
   * answers `invalid_grant` the grant is deleted.
   */
  async refresh(serverUrl: string): Promise<Grant> {
    return this.#refreshOnce(serverUrl, () => true);
  }

  /**
   * Refreshes unless someone else already did. A refresh in flight is joined, and its fresh
   * grant taken as it is; otherwise `stale` is asked about the grant as stored, so a caller that
   * read the grant before another refresh finished does not send the rotated-out refresh token.
   */
  #refreshOnce(serverUrl: string, stale: (grant: Grant) => boolean): Promise<Grant> {
    const server = core.canonicalResourceUri(serverUrl);
    const inFlight = this.#refreshing.get(server);
    if (inFlight) return inFlight;
    const refresh = async (): Promise<Grant> => {
      // Read inside the flight (and the lock): another tab or caller may have refreshed already.
      const grant = await this.grant(serverUrl);
      if (!grant) throw localError('LOGIN_REQUIRED', `no grant for ${serverUrl}`);
      if (!stale(grant)) return grant;
      try {
        const { grant: next } = await core.refreshGrant(grant, this.#io);
        await this.#storeGrant(serverUrl, next);
        return next;
      } catch (err) {
        if (core.isInvalidGrant(err)) await this.#deleteGrant(serverUrl, grant);
        throw err;
      }
    };
    // Tabs sharing a localStorage grant refresh one at a time too, where the Web Locks API exists.
    const locks = webLocks();
    const flight = (locks ? locks.request(`mcpauth refresh ${server}`, refresh) : refresh()).finally(() =>
      this.#refreshing.delete(server),
    );
    this.#refreshing.set(server, flight);
    return flight;
  }

  /**
   * A usable access token for `serverUrl`, refreshed first when the core says it is about to
   * expire.
   *
   * @throws `LOGIN_REQUIRED` when there is no grant, or it expired and cannot be refreshed.
   */
  async accessToken(serverUrl: string): Promise<string> {
    const token = await this.#usableToken(serverUrl);
    if (token === undefined) throw localError('LOGIN_REQUIRED', `no usable token for ${serverUrl}; log in first`);
    return token;
  }

  async #usableToken(serverUrl: string): Promise<string | undefined> {
    let grant = await this.grant(serverUrl);
    if (!grant) return undefined;
    if (core.grantNeedsRefresh(grant)) {
      try {
        grant = await this.#refreshOnce(serverUrl, (g) => core.grantNeedsRefresh(g));
      } catch (err) {
        // A token inside the expiry margin still works; only an expired one is useless.
        if (core.isInvalidGrant(err) || core.grantIsExpired(grant)) return undefined;
      }
    } else if (core.grantIsExpired(grant)) {
      return undefined;
    }
    return grant.tokens.access_token;
  }

  /**
   * Forgets the grant of `serverUrl` and revokes its tokens at the authorization server
   * (RFC 7009) when it offers revocation. Local state is cleared first, so the promise rejecting
   * (the server refused or was unreachable) still leaves the user logged out here.
   */
  async logout(serverUrl: string, options: { revoke?: boolean } = {}): Promise<void> {
    const grant = await this.grant(serverUrl);
    if (!grant) return;
    await this.#deleteGrant(serverUrl, grant);
    if (options.revoke ?? true) await core.revokeGrant(grant, this.#io);
  }

  /**
   * A `fetch` that authorizes requests with the grant of their server:
   * - adds `Authorization: Bearer <token>`, refreshing first when the token is about to expire;
   * - on a 401, refreshes once (one refresh shared by all concurrent calls) and retries once;
   * - when that does not help, or on a 403 `insufficient_scope`, calls `onAuthorizationRequired`
   *   with the scope the core computes (the union with the held scope for a step-up), then
   *   retries. The core limits how often this happens per server and operation (the
   *   `Mcp-Method` and `Mcp-Name` headers), then the call rejects with `STEP_UP_LIMIT`.
   */
  authFetch(fetchImpl?: typeof fetch, options: McpAuthFetchOptions = {}): typeof fetch {
    const send = fetchImpl ?? this.#fetch;
    return (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const template = new Request(input, init);
      const serverUrl = options.serverUrl ?? requestServerUrl(template.url);
      const operation = mcpOperation(template.headers);
      let refreshed = false;
      let authorized = false;
      for (;;) {
        const token = await this.#usableToken(serverUrl);
        const request = template.clone();
        if (token !== undefined) request.headers.set('authorization', `Bearer ${token}`);
        const response = await send(request);
        const challenge = this.challenge(response);
        if (!challenge) {
          if (authorized) this.#stepUps.succeeded(serverUrl, operation);
          return response;
        }
        if (challenge.kind === 'unauthorized' && token !== undefined && !refreshed) {
          refreshed = true;
          const next = await this.#refreshOnce(serverUrl, (g) => g.tokens.access_token === token).catch(() => undefined);
          if (next && next.tokens.access_token !== token) {
            await response.body?.cancel();
            continue;
          }
        }
        if (!options.onAuthorizationRequired) return response;
        await response.body?.cancel();
        const attempt = this.#stepUps.beginAttempt(serverUrl, operation);
        await options.onAuthorizationRequired(await this.#authorizationRequired(serverUrl, challenge, attempt));
        authorized = true;
        refreshed = false;
      }
    }) as typeof fetch;
  }

  async #authorizationRequired(serverUrl: string, challenge: AuthChallenge, attempt: number): Promise<AuthorizationRequired> {
    // A 401 with a token in hand may mean the server moved: discover again, with the challenge.
    const discovered = await this.discover(serverUrl, { challenge });
    const held = challenge.kind === 'insufficient_scope' ? await this.grant(serverUrl) : undefined;
    const options: AuthorizationOptions = {
      challenge,
      discovered,
      previousScope: held?.tokens.scope,
    };
    const scope = core.loginScope(discovered, this.#loginOptions(options));
    return { serverUrl, reason: challenge.kind, challenge, discovered, scope, attempt, options };
  }

  async #storeGrant(serverUrl: string, grant: Grant): Promise<void> {
    const server = core.canonicalResourceUri(serverUrl);
    const key = core.grantKey(grant);
    const previous = await this.#storage.get(SERVER + server);
    await this.#storage.set(GRANT + key, JSON.stringify(grant));
    await this.#storage.set(SERVER + server, key);
    // The server moved to another authorization server: the old grant is of no use any more.
    if (previous !== undefined && previous !== key) await this.#storage.delete(GRANT + previous);
  }

  async #deleteGrant(serverUrl: string, grant: Grant): Promise<void> {
    const server = core.canonicalResourceUri(serverUrl);
    const key = core.grantKey(grant);
    if ((await this.#storage.get(SERVER + server)) === key) await this.#storage.delete(SERVER + server);
    await this.#storage.delete(GRANT + key);
  }

  async #read<T>(storage: Storage, key: string): Promise<T | undefined> {
    const text = await storage.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

/** The Web Locks API (`navigator.locks`) where the host has one: browsers, some server runtimes. */
function webLocks(): { request<T>(name: string, callback: () => Promise<T>): Promise<T> } | undefined {
  const nav = (globalThis as { navigator?: { locks?: { request?: unknown } } }).navigator;
  return typeof nav?.locks?.request === 'function' ? (nav.locks as ReturnType<typeof webLocks>) : undefined;
}

/** The MCP endpoint a request goes to: its URL without query and fragment. */
function requestServerUrl(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  return u.href;
}

/** The MCP operation of a request, from the 2026-07-28 transport headers, for the step-up limit. */
function mcpOperation(headers: Headers): string | undefined {
  const method = headers.get('mcp-method');
  if (method === null) return undefined;
  const name = headers.get('mcp-name');
  return name === null ? method : `${method} ${name}`;
}

export { McpAuthError };
