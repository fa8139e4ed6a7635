/**
 * `McpAuth`: the OAuth 2.1 client for MCP servers.
 *
 * Every operation is a machine of the Rust core (`login`, `resume`, `access`, `logout`,
 * `discover`) run by {@link runMachine}, the package's one driver loop; an authorized request
 * is the core's protected-request decisions around your `fetch`. This file only chooses the
 * machine, builds its configuration from the options, and hands over storage and hooks.
 *
 * @module
 */

import * as core from './core.js';
import { McpAuthError, wrap } from './errors.js';
import { type DebugHook, type FetchLike, type ListenRequest, type MachineControl, type MachineIo, runMachine, settled, type SharedLock } from './pump.js';
import { type ClientKey, compactJws, type ImportedClientKey, importClientKey, newDpopKey, type Signer, webCryptoSigner } from './signing.js';
import { MemoryStorage, type Storage } from './storage.js';
import { ready } from './wasm.js';
import type {
  Action,
  BearerChallenge,
  CredentialSource,
  DevicePrompt,
  Discovered,
  Grant,
  LoginConfig,
  LoginOutcome,
  JwsAlg,
  LoginStatus,
  LogoutOutcome,
  MachineConfigs,
  MachineGrant,
  MachineKind,
  Policy,
  PreRegistered,
  Redirect,
} from './wire.js';
import type { ManualEndpoints } from './generated/index.js';

/** Credentials registered out of band with one authorization server. */
export interface PreRegisteredClient {
  /** The issuer they belong to, exactly as its metadata states it; they are sent nowhere else. */
  issuer?: string;
  clientId: string;
  clientSecret?: string;
  /** `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`; by default the core picks one the server supports (`private_key_jwt` when `keyAlg` is set). */
  authMethod?: PreRegistered['authMethod'];
  /**
   * For `private_key_jwt` (RFC 7523 §2.2): the algorithm of {@link McpAuthOptions.clientKey},
   * `ES256` or `RS256`. Default: the key's own, when a `clientKey` is configured and this
   * client has no secret.
   */
  keyAlg?: JwsAlg;
  /** For `private_key_jwt`: the `kid` the server knows the client key by, if it needs one. */
  keyId?: string;
}

/** Options of {@link McpAuth}. */
export interface McpAuthOptions {
  /**
   * Where the authorization server sends the browser back (redirect and popup logins,
   * {@link McpAuth.authorizationUrl}). A CLI using `loopbackLogin` or `deviceLogin` may leave it out.
   */
  redirectUri?: string;
  /** The name users see on the consent screen, sent with dynamic registration. Default `"mcpauth"`. */
  clientName?: string;
  /** `native` or `web`, for dynamic registration; default: web for an https redirect URI, else native. */
  applicationType?: 'native' | 'web';
  /** The https URL of this client's ID metadata document (CIMD), its `client_id` where servers support CIMD. */
  clientMetadataUrl?: string;
  /**
   * Pre-registered credentials, each used only at its issuer. A single entry for another issuer
   * is an error (`CREDENTIALS_FOR_OTHER_ISSUER`), not a silent fallback.
   */
  preRegistered?: PreRegisteredClient | PreRegisteredClient[];
  /** An explicit scope for every login, replacing the MCP selection rules. */
  scope?: string;
  /** Grants and registrations. Default: a {@link MemoryStorage}. */
  storage?: Storage;
  /**
   * Logins waiting for their redirect (PKCE verifier and `state`). Default: `storage`. In
   * browsers use `new WebStorage(sessionStorage)`.
   */
  sessionStorage?: Storage;
  /**
   * The lock that makes one refresh per grant across processes (replicas of a gateway): taken
   * after this process's own queue, instead of the Web Locks API. `RedisStorage` from
   * `mcpauth/redis` is one; pass the same object as `storage`, so that it fences the grant's
   * save with the lock it holds. Default: Web Locks where the host has them, else this process
   * only.
   */
  lock?: SharedLock;
  /** The core's security policy (plain-http test servers, the 2025-03-26 fallbacks, ...). */
  policy?: Policy;
  /**
   * Obtains tokens without a user, and again without one when they expire (there is no
   * refresh token):
   * - `{kind: "client_credentials"}`: the client credentials grant with the pre-registered
   *   client's secret, or its `clientKey` (`private_key_jwt`);
   * - `{kind: "jwt_bearer", assertion}`: the jwt-bearer grant (RFC 7523 §2.1) with a
   *   workload's identity token (workload identity federation);
   * - `{kind: "enterprise_managed", id_token, idp}`: the user's ID token exchanged at the
   *   enterprise IdP for an ID-JAG, presented with the jwt-bearer grant.
   *
   * Tokens are read from a {@link CredentialSource}: `{kind: "value", value}`, or in Node
   * `{kind: "file", path}` (trimmed; read again for every new token, so rotation is picked up)
   * or `{kind: "env", name}`. With a grant, {@link McpAuth.login} needs no redirect, and
   * {@link McpAuth.authFetch} logs in by itself when it has no `onAuthorizationRequired`.
   */
  grant?: MachineGrant;
  /**
   * Asks for DPoP-bound tokens (RFC 9449): each login makes a fresh P-256 key, and every token,
   * refresh and MCP request carries a proof signed with it. In browsers the key is
   * non-extractable and kept in IndexedDB; in Node its private part is in the grant record.
   */
  dpop?: boolean;
  /** An `audience` parameter, for authorization servers that want one (Auth0): sent with authorization, token and refresh requests. */
  audience?: string;
  /**
   * The key of a `private_key_jwt` client (RFC 7523 §2.2), for the pre-registered client
   * without a secret: a PKCS#8 PEM string, a private JWK, or a `CryptoKey`; P-256 (ES256) or
   * RSA (RS256). Imported with WebCrypto, non-extractable.
   */
  clientKey?: ClientKey;
  /** The fetch every OAuth request goes through. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Leaves RFC 8707 `resource` out of authorization, token and refresh requests.
   *
   * @security MCP requires `resource`, which binds tokens to the server they are for. Set this
   * only for authorization servers that reject it (Entra ID).
   */
  dangerouslyOmitResource?: boolean;
  /**
   * Which of several logins to the same server this client uses, such as `work` or `personal`
   * (1 to 64 ASCII letters, digits, `.`, `_` or `-`). Each profile keeps its own grant; the
   * default is the server's one unnamed login. The same store layout as the Rust crate's.
   */
  profile?: string;
  /** How long a login may take, in milliseconds. Default 300 000 (five minutes). */
  timeout?: number;
  /** How long one HTTP request may take, in milliseconds (for an MCP request: until its response head). Default 30 000. */
  requestTimeout?: number;
  /** The clock, in milliseconds since the epoch, for tests that move time. Default `Date.now`. */
  now?: () => number;
  /**
   * How a flow waits out a pause of its own while nothing else can end it, such as a device
   * login's poll interval: resolves after `ms` milliseconds on the `now` clock's scale. Default:
   * `setTimeout`. Tests pass one that moves their clock ahead instead of sleeping, so the
   * intervals the core decides pass at once. While a request is in flight or a lock is awaited,
   * and once a login has sent the user agent, waits stay on `setTimeout`: those answers can come
   * any time.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Hears failures that do not fail the operation: a refused revocation, a refresh that failed while the token still works. */
  onWarning?: (warning: McpAuthError) => void;
  /** Hears that a callback carrying another login's `state` arrived and was ignored (a forged request, or an old tab). */
  onForeignCallback?: () => void;
  /**
   * Hears what the driver does, for debugging a login: each request (method, URL with query
   * parameter names only, request id), each response (status, content type, body length), each
   * failure and time-out, each event by its kind, each storage operation by the kind of its key.
   * Its fields never hold a token, code, verifier, `state` or secret, so the output may go to
   * ordinary logs: `debug: (message, fields) => console.debug('mcpauth', message, fields)`. The
   * Rust crate logs the same with `tracing` (`MCPAUTH_LOG=debug` for the CLI).
   */
  debug?: DebugHook;
}

/** Options of a login: {@link McpAuth.authorizationUrl} and the helpers built on {@link McpAuth.login}. */
export interface AuthorizationOptions {
  /** The challenge (from a 401 or 403) that made this login necessary: its `scope` and `resource_metadata` steer it. */
  challenge?: BearerChallenge;
  /** An explicit scope, replacing the MCP selection rules. */
  scope?: string;
  /** Scopes held before, for a step-up: the core requests their union with the challenge's. */
  previousScope?: string;
  /** Overrides {@link McpAuthOptions.redirectUri}. */
  redirectUri?: string;
  /** Extra authorization request parameters (`prompt`, ...); the core refuses reserved names. */
  extraParams?: [string, string][];
  /** Overrides {@link McpAuthOptions.timeout} for this login. */
  timeout?: number;
  /** Skips the protected resource metadata and uses this issuer (configured by hand). */
  issuer?: string;
  /** Skips discovery altogether and uses these endpoints (servers without metadata). */
  endpoints?: ManualEndpoints;
  /**
   * Sends one unauthenticated request to the MCP server first, when no challenge is given, to
   * read its `WWW-Authenticate` (its `resource_metadata` and `scope`). Default `true`.
   */
  probe?: boolean;
  /** Headers for requests to the MCP server itself (the probe), such as an API gateway's key. Never sent to the authorization server. */
  serverHeaders?: [string, string][];
  /** Cancels the login (`ABORTED`, or the signal's reason when that is an `McpAuthError`). */
  signal?: AbortSignal;
}

/** Options of {@link McpAuth.login}: how the user agent travels. */
export interface LoginOptions extends AuthorizationOptions {
  /** Default: the fixed redirect URI. */
  redirect?: Redirect;
  /** Sends the user agent to the authorization URL; hand the redirect back with `control.callback`. */
  onAuthorize?: (url: string, control: MachineControl) => unknown;
  /** Starts a loopback listener (a `loopback` redirect); resolves to its redirect URI. */
  listen?: (request: ListenRequest, control: MachineControl) => Promise<string>;
  /** Shows the device code (a `device` redirect). */
  onPrompt?: (prompt: DevicePrompt) => unknown;
}

/** What {@link McpAuth.authorizationUrl} returns. */
export interface AuthorizationStart {
  /** Send the user agent here. */
  url: string;
  /** The `state` of this request: the pending login is stored under it. */
  state: string;
}

/** What {@link McpAuthFetchOptions.onAuthorizationRequired} is told. */
export interface AuthorizationRequired {
  /** The MCP server that needs a (new) login. */
  serverUrl: string;
  /** `unauthorized` (a 401 that a refresh did not cure) or `insufficient_scope` (a 403: step-up). */
  reason: 'unauthorized' | 'insufficient_scope';
  /** The server's challenge. */
  challenge: BearerChallenge;
  /** The attempt for this server and MCP operation, from 1 (the core stops after its limit with `STEP_UP_LIMIT`). */
  attempt: number;
  /** Options to pass on to `loopbackLogin`, `popupLogin`, `redirectLogin` or {@link McpAuth.authorizationUrl}. */
  options: AuthorizationOptions;
}

/** Options of {@link McpAuth.authFetch}. */
export interface McpAuthFetchOptions {
  /** The MCP server whose grant authorizes the requests. Default: each request's URL, canonicalized by the core as a login's is (the query kept, the fragment dropped). */
  serverUrl?: string;
  /**
   * Logs the user in when the server wants it (a 401 a refresh did not cure, a 403
   * `insufficient_scope`); the request is sent again once it resolves. Without it, a request
   * with no usable grant rejects with `LOGIN_REQUIRED`.
   */
  onAuthorizationRequired?: (required: AuthorizationRequired) => Promise<unknown>;
}

/** Options of {@link McpAuth.deviceLogin}. */
export interface DeviceLoginOptions extends Omit<AuthorizationOptions, 'redirectUri'> {
  /** Shows the user where to go and which code to enter. */
  onPrompt: (prompt: DevicePrompt) => unknown;
}

/**
 * A token the core let this client send again without asking it, until `reuseUntil` (its clock,
 * compared with this client's `now`): the finished `access` machine that handed it out (the
 * core reads the grant from it to judge the answer), and the `Authorization` value.
 */
interface Reused {
  machine: number;
  authorization: string;
  reuseUntil: number;
  /** Requests sent with it whose answer the core has not judged yet: the machine outlives them. */
  inFlight: number;
  /** No longer remembered: the machine is freed once nothing is in flight. */
  dropped: boolean;
}

/** Drops a remembered token, freeing its machine now or when the last request sent with it is judged. */
function drop(reused: Reused): void {
  reused.dropped = true;
  if (reused.inFlight === 0) core.machineFree(reused.machine);
}

/** What an `McpAuth` holds in the core: its step-up tracker and the machines of its remembered tokens. */
interface CoreHeld {
  tracker: number | undefined;
  reused: Map<string, Reused>;
}

/** Frees what an `McpAuth` holds in the core once the instance is collected. */
const held =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<CoreHeld>(({ tracker, reused }) => {
        if (tracker !== undefined) core.trackerFree(tracker);
        for (const { machine } of reused.values()) core.machineFree(machine);
      })
    : undefined;

/**
 * Whether a request body can be sent again as it is: everything but a stream. A retry after a
 * 401 then sends the caller's value again, and nothing is cloned.
 */
function reusableBody(body: RequestInit['body']): boolean {
  return (
    body == null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    (typeof Blob === 'function' && body instanceof Blob) ||
    (typeof FormData === 'function' && body instanceof FormData)
  );
}

/** A machine `authFetch` ran to its end and keeps, for its outcome; its failure, if any, is what a `fail` means. */
interface Settled {
  handle: number;
  failure: unknown;
  /** This client's grant writes before the machine started, and the machine's own. */
  writesBefore: number;
  own: { writes: number };
}

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
  readonly #fetch: FetchLike;
  /** Signs DPoP proofs and client assertions. */
  readonly #sign: Signer;
  /** The client key, imported once on first use. */
  #clientKey: Promise<ImportedClientKey | undefined> | undefined;
  /** What this client holds in the core (made on first use: constructing one instantiates nothing). */
  readonly #held: CoreHeld = { tracker: undefined, reused: new Map() };
  /**
   * Grant saves and deletes made through this client. A token remembered for reuse was read
   * after the last of them, or is dropped: a login, refresh or logout here is seen at once.
   * Other clients and processes sharing the storage are seen within the core's
   * `MAX_TOKEN_REUSE` (30 s), or at once when the server refuses the token.
   */
  #writes = 0;

  constructor(options: McpAuthOptions = {}) {
    this.#options = options;
    this.#storage = options.storage ?? new MemoryStorage();
    this.#session = options.sessionStorage ?? this.#storage;
    const custom = options.fetch;
    this.#fetch = custom ? (url, init) => custom(url, init) : (url, init) => globalThis.fetch(url, init);
    held?.register(this, this.#held);
    this.#sign = webCryptoSigner(() => this.#importedClientKey());
  }

  /** Authorization attempts per server and operation, counted by the core. */
  get #tracker(): number {
    return (this.#held.tracker ??= core.trackerNew());
  }

  /** Drops the remembered tokens (all servers): a grant was saved or deleted through this client. */
  #forgetReused(): void {
    for (const reused of this.#held.reused.values()) drop(reused);
    this.#held.reused.clear();
  }

  /** The storage of grants as machines of this client see it: a write drops the remembered tokens. */
  #grantStorage(own?: { writes: number }): Storage {
    const storage = this.#storage;
    const wrote = () => {
      this.#writes++;
      if (own) own.writes++;
      this.#forgetReused();
    };
    return {
      get: (key) => storage.get(key),
      set: (key, value) => {
        wrote();
        return storage.set(key, value);
      },
      delete: (key) => {
        wrote();
        return storage.delete(key);
      },
    };
  }

  /** The client key, imported once (a refused key is tried again next time). */
  #importedClientKey(): Promise<ImportedClientKey | undefined> {
    const key = this.#options.clientKey;
    if (key === undefined) return Promise.resolve(undefined);
    this.#clientKey ??= importClientKey(key).catch((error: unknown) => {
      this.#clientKey = undefined;
      throw error;
    });
    return this.#clientKey;
  }

  /** The configured redirect URI, if any. */
  get redirectUri(): string | undefined {
    return this.#options.redirectUri;
  }

  /**
   * The authorization server of the MCP server at `serverUrl`, validated (RFC 9728, then RFC
   * 8414 / OpenID metadata). `challenge.resource_metadata` comes first; `issuer` skips
   * protected resource metadata.
   */
  async discover(serverUrl: string, options: { challenge?: BearerChallenge; issuer?: string } = {}): Promise<Discovered> {
    return (await this.#run('discover', {
      server: serverUrl,
      resourceMetadata: options.challenge?.resource_metadata ?? undefined,
      issuer: options.issuer,
      policy: this.#options.policy,
      requestTimeoutMs: this.#options.requestTimeout,
    })) as Discovered;
  }

  /**
   * Logs in to `serverUrl` and stores the grant: discovery, client identity, then the
   * authorization request and its redirect (`options.redirect`: the fixed redirect URI by
   * default, a loopback listener, or the device flow), the code exchange, and the grant
   * replacing (and revoking) the previous one. The building block of `loopbackLogin`,
   * `popupLogin` and {@link deviceLogin}.
   */
  async login(serverUrl: string, options: LoginOptions = {}): Promise<Grant> {
    // A machine grant sends no user agent anywhere: its redirect is never used.
    const redirect = options.redirect ?? (this.#options.grant ? { kind: 'loopback' } : { kind: 'fixed', uri: this.#redirectUri(options) });
    const outcome = (await this.#run('login', await this.#loginConfig(serverUrl, redirect, options), {
      authorize: options.onAuthorize,
      listen: options.listen,
      onPrompt: options.onPrompt,
      signal: options.signal,
    })) as LoginOutcome;
    return outcome.grant;
  }

  /**
   * Starts a login whose redirect comes back to a page, maybe after a page load: runs it up to
   * the authorization URL, which it returns. The login waits in the session storage, under its
   * `state`, for {@link handleCallback}.
   */
  async authorizationUrl(serverUrl: string, options: AuthorizationOptions = {}): Promise<AuthorizationStart> {
    const redirect: Redirect = { kind: 'fixed', uri: this.#redirectUri(options) };
    return (await this.#run('login', await this.#loginConfig(serverUrl, redirect, options), {
      signal: options.signal,
      authorize: (url, control) => control.detach({ url, state: new URL(url).searchParams.get('state') ?? '' }),
    })) as AuthorizationStart;
  }

  /**
   * Completes the login started by {@link authorizationUrl} with the URL the authorization
   * server redirected to: the core checks it (`state`, RFC 9207 `iss`, an error response),
   * exchanges the code, and stores the grant. One use: the pending login is deleted.
   *
   * @throws `NO_PENDING_AUTHORIZATION` when no login waits for this callback's `state`.
   */
  async handleCallback(callbackUrl: string): Promise<Grant> {
    await ready();
    const key = core.pendingKeyForCallback(callbackUrl);
    const record = key === undefined ? undefined : await this.#read(this.#session, key);
    if (key === undefined || record === undefined) {
      throw new McpAuthError('NO_PENDING_AUTHORIZATION', 'no login waits for this callback (already used, forgotten, or started in another storage)');
    }
    const handle = core.machineNew('resume', { key, record }, this.#now());
    try {
      // The callback's state named the record, so it belongs; anything else ends the login.
      if (!core.machineInput(handle, { kind: 'callback', url: callbackUrl }, this.#now()).belongs) core.machineInput(handle, { kind: 'abort' }, this.#now());
      return ((await runMachine(handle, this.#io())) as LoginOutcome).grant;
    } finally {
      core.machineFree(handle);
    }
  }

  /**
   * Logs in with the device authorization grant (RFC 8628): `onPrompt` shows the user code,
   * the core polls until the user approves, and the grant is stored.
   */
  async deviceLogin(serverUrl: string, options: DeviceLoginOptions): Promise<Grant> {
    return this.login(serverUrl, { ...options, redirect: { kind: 'device' } });
  }

  /** The stored grant for `serverUrl`, if any (its tokens may be expired). */
  async grant(serverUrl: string): Promise<Grant | undefined> {
    await ready();
    const key = core.grantKey(serverUrl, this.#options.profile);
    const record = await this.#read(this.#storage, key);
    return record === undefined ? undefined : core.storedGrant(key, record).grant;
  }

  /** What a status display shows of the login to `serverUrl`, if any: issuer, scope, expiry, who. */
  async status(serverUrl: string): Promise<LoginStatus | undefined> {
    await ready();
    const key = core.grantKey(serverUrl, this.#options.profile);
    const record = await this.#read(this.#storage, key);
    return record === undefined ? undefined : core.loginStatus(key, record, this.#now());
  }

  /**
   * A usable access token for `serverUrl`, refreshed first when it is about to expire. However
   * many callers ask at once, one refresh is made (in this process, and across processes with
   * the `lock` option, or across tabs where the Web Locks API exists).
   *
   * @throws `LOGIN_REQUIRED` when there is no grant, or only a new login can get a token.
   */
  async accessToken(serverUrl: string): Promise<string> {
    return ((await this.#run('access', this.#accessConfig(serverUrl))) as Grant).tokens.access_token;
  }

  /**
   * Refreshes the grant of `serverUrl` now (with rotation), unless another caller just did: then
   * its grant is the answer. A refresh token the server refuses (`invalid_grant`) deletes the
   * grant, reports the server's error as a warning, and rejects with `LOGIN_REQUIRED`.
   */
  async refresh(serverUrl: string): Promise<Grant> {
    const held = await this.grant(serverUrl);
    const config = { ...this.#accessConfig(serverUrl), rejected: held?.tokens.access_token };
    return (await this.#run('access', config)) as Grant;
  }

  /**
   * Forgets the grant of `serverUrl`, then revokes it at the authorization server (RFC 7009)
   * unless `revoke` is false. A revocation that fails is a warning: the user is logged out here
   * all the same.
   *
   * @throws `LOGIN_REQUIRED` when nothing is stored for the server.
   */
  async logout(serverUrl: string, options: { revoke?: boolean } = {}): Promise<LogoutOutcome> {
    return (await this.#run('logout', {
      server: serverUrl,
      revoke: options.revoke ?? true,
      profile: this.#options.profile,
      policy: this.#options.policy,
      requestTimeoutMs: this.#options.requestTimeout,
    })) as LogoutOutcome;
  }

  /**
   * A `fetch` that authorizes requests with the grant of their server, as the core decides:
   * - sends `Authorization: Bearer <token>`, refreshed first when it is about to expire;
   * - on a 401, refreshes once (one refresh for all concurrent callers) and sends again;
   * - when that does not help, or on a 403 `insufficient_scope`, calls `onAuthorizationRequired`
   *   (for a step-up, with the held scope, so the login asks for the union), then sends again,
   *   at most three times per server and MCP operation (`Mcp-Method`, `Mcp-Name`), then
   *   rejects with `STEP_UP_LIMIT`; a 401 right after a login rejects with
   *   `PERSISTENT_UNAUTHORIZED`.
   *
   * A Bearer token the server accepted is remembered, in memory, for as long as the core allows
   * (until it is due for a refresh, at most 30 s): the next requests to the server send it
   * without reading the storage, and the core only judges the answer. A login, refresh or
   * logout through this `McpAuth` forgets it at once; one made elsewhere on the same storage
   * (another process, tab or client) is seen within those 30 s, or at once when the server
   * refuses the old token. DPoP-bound tokens are never remembered: each request needs a proof
   * of its own.
   *
   * A body that can be sent twice (a string, `ArrayBuffer`, typed array, `URLSearchParams`,
   * `FormData`, `Blob`, or none) is sent again as it is when the core retries; only a stream
   * body, or a `Request` passed as `input`, is cloned for each sending.
   *
   * `fetchImpl` sends the MCP requests (default: the `fetch` option), called as
   * `fetchImpl(url, init)` (or `fetchImpl(request, init)` for a `Request` input). When it
   * rejects, the returned fetch rejects with `TRANSPORT` (or `ABORTED`), the original error as
   * `cause`.
   */
  authFetch(fetchImpl?: typeof fetch, options: McpAuthFetchOptions = {}): typeof fetch {
    const custom = fetchImpl ?? this.#options.fetch;
    const send: Send = custom ? (input, init) => custom(input, init) : (input, init) => globalThis.fetch(input, init);
    return (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      // The fast path: a token the core allowed to be sent again, a body that needs no copy.
      if (typeof input === 'string' || input instanceof URL) {
        const memoryKey = options.serverUrl ?? (typeof input === 'string' ? input : input.href);
        const reused = this.#held.reused.get(memoryKey);
        if (reused !== undefined && this.#now() < reused.reuseUntil && reusableBody(init?.body)) {
          return this.#sendReused(send, options, memoryKey, reused, String(input), init ?? {});
        }
      }
      await ready();
      return this.#authorize(send, options, input, init);
    }) as typeof fetch;
  }

  /** The fast path of {@link authFetch}: sends with the remembered token; one call into the core judges the answer. */
  async #sendReused(send: Send, options: McpAuthFetchOptions, memoryKey: string, reused: Reused, url: string, init: RequestInit): Promise<Response> {
    const { headers, mcpMethod, mcpName } = withAuthorization(init.headers, reused.authorization);
    reused.inFlight++;
    let response: Response;
    try {
      response = await sendMcp(send, url, { ...init, headers }, this.#options.requestTimeout ?? 30_000);
    } catch (error) {
      this.#judged(reused);
      throw error;
    }
    const loginAllowed = options.onAuthorizationRequired !== undefined || this.#options.grant !== undefined;
    let action: ReturnType<typeof core.protectedReused>;
    try {
      action = core.protectedReused(
        reused.machine,
        this.#tracker,
        // The method as the Request constructor gives it to the slow path (DPoP proofs name it).
        normalizeMethod(init.method),
        { mcpMethod, mcpName },
        loginAllowed,
        { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), dpopNonce: response.headers.get('dpop-nonce') },
        this.#now(),
      );
    } catch (error) {
      this.#judged(reused);
      this.#forget(memoryKey, reused);
      void response.body?.cancel().catch(() => {});
      throw error;
    }
    this.#judged(reused);
    if (action === undefined) return response;
    // The core judges this answer (a 401, a step-up): the remembered token waits for its word.
    this.#forget(memoryKey, reused);
    const attempt = { url, init, headers: [...new Headers(init.headers)] as [string, string][] };
    const hook = this.#loginHook(options, memoryKey);
    return this.#drive(send, options, memoryKey, memoryKey, hook, action.request, attempt, action, response, []);
  }

  /** The slow path of {@link authFetch}: the core reads the grant and decides every step. */
  async #authorize(send: Send, options: McpAuthFetchOptions, input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> {
    const template = new Request(input, init);
    // The core canonicalizes the server URL, as for a login: it keeps the query (a server
    // URL may carry one) and drops the fragment.
    const serverUrl = options.serverUrl ?? template.url;
    // A string or URL with a body that can be sent twice is sent as it is; anything else is
    // cloned from the template for each sending.
    const plain = (typeof input === 'string' || input instanceof URL) && reusableBody(init?.body);
    const memoryKey = plain ? (options.serverUrl ?? String(input)) : undefined;
    const attempt: Attempt = plain ? { url: template.url, init: init ?? {}, headers: [...template.headers] as [string, string][] } : { template };
    const hook = this.#loginHook(options, serverUrl);
    const request = core.protectedNew(serverUrl, [...template.headers] as [string, string][], hook !== undefined, template.method);
    const machines: number[] = [];
    const first = await this.#settle(machines, 'access', this.#accessConfig(serverUrl));
    let action: Action;
    try {
      action = this.#step(request, { kind: 'start', machine: first.handle }, first.failure);
    } catch (error) {
      core.protectedFree(request);
      for (const handle of machines) core.machineFree(handle);
      throw error;
    }
    return this.#drive(send, options, serverUrl, memoryKey, hook, request, attempt, action, undefined, machines, first);
  }

  /** The loop of the core's protected request `request`, from `action` on; frees it and `machines`. */
  async #drive(
    send: Send,
    options: McpAuthFetchOptions,
    serverUrl: string,
    memoryKey: string | undefined,
    hook: AuthorizationHook | undefined,
    request: number,
    attempt: Attempt,
    action: Action,
    response: Response | undefined,
    machines: number[],
    granted?: Settled,
  ): Promise<Response> {
    /** The access machine whose token was sent last, when it ended with one. */
    let sent = granted?.failure === undefined ? granted : undefined;
    let returned = false;
    try {
      for (;;) {
        switch (action.action) {
          case 'return':
            returned = true;
            if (memoryKey !== undefined && sent !== undefined) this.#remember(memoryKey, sent, machines);
            return response as Response;
          case 'send': {
            await discard(response);
            response = await this.#sendAttempt(send, attempt, action);
            const challenge = response.headers.get('www-authenticate');
            action = this.#step(request, {
              kind: 'response',
              status: response.status,
              wwwAuthenticate: challenge === null ? [] : [challenge],
              dpopNonce: response.headers.get('dpop-nonce'),
            });
            break;
          }
          case 'refresh': {
            const refreshed = await this.#settle(machines, 'access', { ...this.#accessConfig(serverUrl), rejected: action.rejected });
            sent = refreshed.failure === undefined ? refreshed : undefined;
            action = this.#step(request, { kind: 'refreshed', machine: refreshed.handle }, refreshed.failure);
            break;
          }
          case 'login': {
            await discard(response);
            response = undefined;
            const { challenge, previousScope, attempt: count, stepUp } = action;
            const loginOptions: AuthorizationOptions = { challenge, previousScope: previousScope ?? undefined };
            // The hook logs in its own way (a browser, a popup, a device code); the grant it stored is read back.
            await hook?.({ serverUrl, reason: stepUp ? 'insufficient_scope' : 'unauthorized', challenge, attempt: count, options: loginOptions });
            const after = await this.#settle(machines, 'access', this.#accessConfig(serverUrl));
            sent = after.failure === undefined ? after : undefined;
            action = this.#step(request, { kind: 'login', machine: after.handle }, after.failure);
            break;
          }
        }
      }
    } finally {
      if (!returned) void response?.body?.cancel().catch(() => {});
      core.protectedFree(request);
      for (const handle of machines) core.machineFree(handle);
    }
  }

  /** Sends one attempt with the `Authorization` (and DPoP proof) the core gave. */
  async #sendAttempt(send: Send, attempt: Attempt, action: Extract<Action, { action: 'send' }>): Promise<Response> {
    const headers = 'template' in attempt ? (attempt.next = attempt.template.clone()).headers : new Headers(attempt.headers);
    if (action.authorization === null) headers.delete('authorization');
    else headers.set('authorization', action.authorization);
    // A DPoP-bound token goes with a fresh proof, in the header the core names.
    if (action.dpop) headers.set(action.dpop.place.name, await compactJws(action.dpop, this.#sign));
    const timeout = this.#options.requestTimeout ?? 30_000;
    if ('template' in attempt) return sendMcp(send, attempt.next as Request, {}, timeout);
    return sendMcp(send, attempt.url, { ...attempt.init, headers }, timeout);
  }

  /** The next decision of protected request `request`; a failure throws (`failure`, when the machine fed in failed). */
  #step(request: number, input: Parameters<typeof core.protectedStep>[2], failure?: unknown): Action {
    try {
      return core.protectedStep(request, this.#tracker, input, this.#now());
    } catch (error) {
      throw failure ?? error;
    }
  }

  /** Runs a machine to its end and keeps it in `machines`, for its outcome. */
  async #settle<K extends MachineKind>(machines: number[], kind: K, config: MachineConfigs[K]): Promise<Settled> {
    const handle = core.machineNew(kind, config, this.#now());
    machines.push(handle);
    const own = { writes: 0 };
    const writesBefore = this.#writes;
    const failure = await runMachine(handle, this.#io({}, own)).then(
      () => undefined,
      (error: unknown) => error,
    );
    return { handle, failure, writesBefore, own };
  }

  /**
   * Remembers the token of `settled` for `memoryKey`, for as long as the core allows, unless a
   * grant was written through this client since the machine read it (other than by the
   * machine itself). The machine then belongs to the memory: it leaves `machines`.
   */
  #remember(memoryKey: string, settled: Settled, machines: number[]): void {
    if (this.#writes !== settled.writesBefore + settled.own.writes) return;
    const reuse = core.machineReuse(settled.handle, this.#now());
    if (reuse.reuseUntil === null || reuse.authorization === null) return;
    const at = machines.indexOf(settled.handle);
    if (at < 0) return;
    machines.splice(at, 1);
    const old = this.#held.reused.get(memoryKey);
    if (old) drop(old);
    this.#held.reused.set(memoryKey, { machine: settled.handle, authorization: reuse.authorization, reuseUntil: reuse.reuseUntil, inFlight: 0, dropped: false });
  }

  /** A request sent with `reused` was judged (or failed): its machine may go if it was dropped meanwhile. */
  #judged(reused: Reused): void {
    reused.inFlight--;
    if (reused.dropped && reused.inFlight === 0) core.machineFree(reused.machine);
  }

  /** Forgets the remembered token of `memoryKey`, if it is still `reused`. */
  #forget(memoryKey: string, reused: Reused): void {
    if (this.#held.reused.get(memoryKey) !== reused) return;
    this.#held.reused.delete(memoryKey);
    drop(reused);
  }

  /** Who logs in when the core asks: the caller's hook, or with a machine grant this client itself. */
  #loginHook(options: McpAuthFetchOptions, serverUrl: string): AuthorizationHook | undefined {
    // With a machine grant there is no user to ask: the login is this client's own.
    return options.onAuthorizationRequired ?? (this.#options.grant ? async ({ options: login }: AuthorizationRequired) => this.login(serverUrl, login) : undefined);
  }

  // ----- plumbing --------------------------------------------------------------------------------

  /** Runs a machine to its end and frees it. */
  async #run<K extends MachineKind>(kind: K, config: MachineConfigs[K], io: Partial<MachineIo> = {}): Promise<unknown> {
    await ready();
    const handle = core.machineNew(kind, config, this.#now());
    try {
      return await runMachine(handle, this.#io(io));
    } finally {
      core.machineFree(handle);
    }
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  #io(extra: Partial<MachineIo> = {}, own?: { writes: number }): MachineIo {
    const pending = core.constants.pendingPrefix;
    const grants = this.#grantStorage(own);
    return {
      fetch: this.#fetch,
      now: this.#options.now,
      sleep: this.#options.sleep,
      storage: (key) => (key.startsWith(pending) ? this.#session : grants),
      lock: this.#options.lock,
      onWarning: this.#options.onWarning,
      onForeignCallback: this.#options.onForeignCallback,
      debug: this.#options.debug,
      sign: this.#sign,
      ...extra,
    };
  }

  #redirectUri(options: AuthorizationOptions): string {
    const uri = options.redirectUri ?? this.#options.redirectUri;
    if (!uri) throw new McpAuthError('NO_REDIRECT_URI', 'this login needs a redirectUri (in the options of McpAuth or of this call)');
    return uri;
  }

  async #loginConfig(server: string, redirect: Redirect, options: AuthorizationOptions): Promise<LoginConfig> {
    const o = this.#options;
    const preRegistered = o.preRegistered === undefined ? [] : [o.preRegistered].flat();
    // The client key's algorithm, for the clients that authenticate with it (no secret).
    const keyAlg = preRegistered.some((p) => !p.clientSecret && !p.keyAlg) ? (await this.#importedClientKey())?.alg : undefined;
    return {
      server,
      redirect,
      scope: options.scope ?? o.scope,
      preregistered: preRegistered.map(({ issuer, clientId, clientSecret, authMethod, keyAlg: alg, keyId }) => ({
        issuer,
        clientId,
        clientSecret,
        authMethod,
        keyAlg: alg ?? (clientSecret ? undefined : keyAlg),
        keyId,
      })),
      clientMetadataUrl: o.clientMetadataUrl,
      clientName: o.clientName ?? 'mcpauth',
      applicationType: o.applicationType,
      challenge: options.challenge,
      previousScope: options.previousScope,
      extraParams: options.extraParams ?? [],
      issuer: options.issuer,
      endpoints: options.endpoints,
      probe: options.probe,
      serverHeaders: options.serverHeaders,
      dangerouslyOmitResource: o.dangerouslyOmitResource ?? false,
      timeoutMs: options.timeout ?? o.timeout,
      requestTimeoutMs: o.requestTimeout,
      policy: o.policy,
      profile: o.profile,
      grant: o.grant,
      dpop: o.dpop ?? false,
      // A fresh key per login: a new grant never shares a key with the one it replaces.
      dpopKey: o.dpop ? await newDpopKey() : undefined,
      audience: o.audience,
    };
  }

  #accessConfig(server: string): MachineConfigs['access'] {
    const o = this.#options;
    return { server, policy: o.policy, requestTimeoutMs: o.requestTimeout, profile: o.profile };
  }

  async #read(storage: Storage, key: string): Promise<string | undefined> {
    try {
      return await storage.get(key);
    } catch (error) {
      throw wrap(error, 'STORE', `the storage failed on ${key}`);
    }
  }
}

/** How {@link McpAuth.authFetch} sends: `fetch` itself, or the caller's. */
type Send = (input: string | Request, init: RequestInit) => Promise<Response>;

/** What `onAuthorizationRequired` is, or a machine grant's own login. */
type AuthorizationHook = (required: AuthorizationRequired) => Promise<unknown>;

/** One MCP request as it is sent again: the caller's URL and init (a body that can be sent twice), or a template to clone. */
type Attempt = { url: string; init: RequestInit; headers: [string, string][] } | { template: Request; next?: Request };

/**
 * The caller's headers with `authorization` set to `value`, as a plain record or list (fetch
 * reads those for less than a `Headers`), and the values of the two request headers that name
 * the MCP operation (`Mcp-Method`, `Mcp-Name`), which the core's step-up count reads.
 */
function withAuthorization(
  given: HeadersInit | undefined,
  value: string,
): { headers: Record<string, string> | [string, string][]; mcpMethod: string | null; mcpName: string | null } {
  let mcpMethod: string | null = null;
  let mcpName: string | null = null;
  const note = (name: string, v: string): boolean => {
    const lower = name.toLowerCase();
    if (lower === 'mcp-method') mcpMethod ??= v.trim();
    else if (lower === 'mcp-name') mcpName ??= v.trim();
    return lower !== 'authorization';
  };
  if (given === undefined) return { headers: { authorization: value }, mcpMethod, mcpName };
  if (Array.isArray(given) || (typeof Headers === 'function' && given instanceof Headers)) {
    const pairs: [string, string][] = [];
    for (const [name, v] of given as Iterable<[string, string]>) if (note(name, v)) pairs.push([name, v]);
    pairs.push(['authorization', value]);
    return { headers: pairs, mcpMethod, mcpName };
  }
  const record: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    const v = (given as Record<string, string>)[name] as string;
    if (note(name, v)) record[name] = v;
  }
  record.authorization = value;
  return { headers: record, mcpMethod, mcpName };
}

/** The method as the `Request` constructor normalizes it (the standard ones upper-cased). */
function normalizeMethod(method: string | undefined): string {
  if (method === undefined) return 'GET';
  const upper = method.toUpperCase();
  return ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'].includes(upper) ? upper : method;
}

/**
 * Sends one MCP request (`input` with `init`, an object of the caller's own, which gets the
 * signal); a rejection becomes `TRANSPORT` (or `ABORTED`), never a bare `TypeError`.
 */
async function sendMcp(send: Send, input: string | Request, init: RequestInit, timeout: number): Promise<Response> {
  // A deadline for the response head only: the body may be a long-lived MCP stream, which is
  // the caller's to read. One controller for the caller's signal and the deadline, held here
  // until the answer, is the signal of the request fetch makes: undici links a request's
  // signal to its source through weak references, so an intermediate request (or an
  // `AbortSignal.any` composite) that Node's GC collects while the fetch waits would cut the
  // link, and the deadline would never abort it.
  const controller = new AbortController();
  const signal = init.signal ?? (typeof input === 'string' ? undefined : input.signal);
  const url = typeof input === 'string' ? input : input.url;
  let timedOut = false;
  const onCallerAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onCallerAbort();
  else signal?.addEventListener('abort', onCallerAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeout);
  try {
    init.signal = controller.signal;
    return await send(input, init);
  } catch (error) {
    if (timedOut && !signal?.aborted) {
      throw new McpAuthError('TIMEOUT', `${displayUrl(url)} did not answer in time`, { cause: error });
    }
    if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
      throw new McpAuthError('ABORTED', 'the request was cancelled', { cause: error });
    }
    throw wrap(error, 'TRANSPORT', `cannot reach ${displayUrl(url)}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
    keepAlive(controller);
  }
}

/** A body {@link discard} reads out to keep its connection; a larger one is cancelled. */
const DISCARD_BYTES = 16 * 1024;
/** How long {@link discard} waits for the rest of a body before cancelling it. */
const DISCARD_MS = 100;

/**
 * Lets go of a response not handed to the caller (a 401 before a login or a retry) so that
 * its connection can carry the next request: a small body is read to its end, since
 * cancelling a body still being received closes the connection in Node (undici), and the
 * next request to that origin would pay for a new one (TCP and TLS set-up) on the login's
 * critical path. A body larger than {@link DISCARD_BYTES}, or not complete within
 * {@link DISCARD_MS}, is cancelled: a new connection costs less than waiting on it.
 */
async function discard(response: Response | undefined): Promise<void> {
  const body = response?.body;
  if (!body) return;
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), DISCARD_MS);
  });
  try {
    let size = 0;
    while (size <= DISCARD_BYTES) {
      const read = await Promise.race([reader.read(), late]);
      if (read === 'late') break;
      if (read.done) return await settled();
      size += read.value.byteLength;
    }
    await reader.cancel().catch(() => {});
  } catch {
    // A body that fails to arrive leaves nothing to keep.
  } finally {
    clearTimeout(timer);
  }
}

/** Uses `value`, so that it stays reachable (and its signal linked) until this point. */
function keepAlive(value: unknown): void {
  if (value === keepAlive) throw new Error('unreachable');
}

/** A request's URL for messages: without query and fragment, which may carry secrets. */
function displayUrl(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  return u.href;
}

export { McpAuthError };
