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
import type {
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

/** Frees an `McpAuth`'s step-up tracker in the core once the instance is collected. */
const trackers = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<number>(core.trackerFree) : undefined;

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
  /** Authorization attempts per server and operation, counted by the core. */
  readonly #tracker = core.trackerNew();

  constructor(options: McpAuthOptions = {}) {
    this.#options = options;
    this.#storage = options.storage ?? new MemoryStorage();
    this.#session = options.sessionStorage ?? this.#storage;
    const custom = options.fetch;
    this.#fetch = custom ? (url, init) => custom(url, init) : (url, init) => globalThis.fetch(url, init);
    trackers?.register(this, this.#tracker);
    this.#sign = webCryptoSigner(() => this.#importedClientKey());
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
    const key = core.grantKey(serverUrl, this.#options.profile);
    const record = await this.#read(this.#storage, key);
    return record === undefined ? undefined : core.storedGrant(key, record).grant;
  }

  /** What a status display shows of the login to `serverUrl`, if any: issuer, scope, expiry, who. */
  async status(serverUrl: string): Promise<LoginStatus | undefined> {
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
   * `fetchImpl` sends the MCP requests (default: the `fetch` option). When it rejects, the
   * returned fetch rejects with `TRANSPORT` (or `ABORTED`), the original error as `cause`.
   */
  authFetch(fetchImpl?: typeof fetch, options: McpAuthFetchOptions = {}): typeof fetch {
    const custom = fetchImpl ?? this.#options.fetch;
    const send = custom ? (request: Request) => custom(request) : (request: Request) => globalThis.fetch(request);
    return (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const template = new Request(input, init);
      // The core canonicalizes the server URL, as for a login: it keeps the query (a server
      // URL may carry one) and drops the fragment.
      const serverUrl = options.serverUrl ?? template.url;
      // With a machine grant there is no user to ask: the login is this client's own.
      const hook =
        options.onAuthorizationRequired ??
        (this.#options.grant ? async ({ options: login }: AuthorizationRequired) => this.login(serverUrl, login) : undefined);
      const request = core.protectedNew(serverUrl, [...template.headers] as [string, string][], hook !== undefined, template.method);
      const machines: number[] = [];
      /** Runs a machine to its end and keeps it, for its outcome; its failure, if any, is what a `fail` means. */
      const settle = async <K extends MachineKind>(kind: K, config: MachineConfigs[K]) => {
        const handle = core.machineNew(kind, config, this.#now());
        machines.push(handle);
        const failure = await runMachine(handle, this.#io()).then(() => undefined, (error: unknown) => error);
        return { handle, failure };
      };
      const step = (input: Parameters<typeof core.protectedStep>[2], failure?: unknown) => {
        try {
          return core.protectedStep(request, this.#tracker, input, this.#now());
        } catch (error) {
          throw failure ?? error;
        }
      };
      let response: Response | undefined;
      let returned = false;
      try {
        const first = await settle('access', this.#accessConfig(serverUrl));
        let action = step({ kind: 'start', machine: first.handle }, first.failure);
        for (;;) {
          switch (action.action) {
            case 'return':
              returned = true;
              return response as Response;
            case 'send': {
              await discard(response);
              const attempt = template.clone();
              if (action.authorization === null) attempt.headers.delete('authorization');
              else attempt.headers.set('authorization', action.authorization);
              // A DPoP-bound token goes with a fresh proof, in the header the core names.
              if (action.dpop) attempt.headers.set(action.dpop.place.name, await compactJws(action.dpop, this.#sign));
              response = await sendMcp(send, attempt, this.#options.requestTimeout ?? 30_000);
              const challenge = response.headers.get('www-authenticate');
              action = step({
                kind: 'response',
                status: response.status,
                wwwAuthenticate: challenge === null ? [] : [challenge],
                dpopNonce: response.headers.get('dpop-nonce'),
              });
              break;
            }
            case 'refresh': {
              const refreshed = await settle('access', { ...this.#accessConfig(serverUrl), rejected: action.rejected });
              action = step({ kind: 'refreshed', machine: refreshed.handle }, refreshed.failure);
              break;
            }
            case 'login': {
              await discard(response);
              response = undefined;
              const { challenge, previousScope, attempt, stepUp } = action;
              const loginOptions: AuthorizationOptions = { challenge, previousScope: previousScope ?? undefined };
              // The hook logs in its own way (a browser, a popup, a device code); the grant it stored is read back.
              await hook?.({ serverUrl, reason: stepUp ? 'insufficient_scope' : 'unauthorized', challenge, attempt, options: loginOptions });
              const after = await settle('access', this.#accessConfig(serverUrl));
              action = step({ kind: 'login', machine: after.handle }, after.failure);
              break;
            }
          }
        }
      } finally {
        if (!returned) void response?.body?.cancel().catch(() => {});
        core.protectedFree(request);
        for (const handle of machines) core.machineFree(handle);
      }
    }) as typeof fetch;
  }

  // ----- plumbing --------------------------------------------------------------------------------

  /** Runs a machine to its end and frees it. */
  async #run<K extends MachineKind>(kind: K, config: MachineConfigs[K], io: Partial<MachineIo> = {}): Promise<unknown> {
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

  #io(extra: Partial<MachineIo> = {}): MachineIo {
    const pending = core.constants.pendingPrefix;
    return {
      fetch: this.#fetch,
      now: this.#options.now,
      sleep: this.#options.sleep,
      storage: (key) => (key.startsWith(pending) ? this.#session : this.#storage),
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

/** Sends one MCP request; a rejection becomes `TRANSPORT` (or `ABORTED`), never a bare `TypeError`. */
async function sendMcp(send: (request: Request) => Promise<Response>, request: Request, timeout: number): Promise<Response> {
  // A deadline for the response head only: the body may be a long-lived MCP stream, which is
  // the caller's to read. One controller for the caller's signal and the deadline, and the
  // request it signals, are held here until the answer: undici links a request's signal to
  // its source through weak references, so a request (or an `AbortSignal.any` composite) that
  // Node's GC collects while the fetch waits cuts the link, and the deadline never aborts it.
  const controller = new AbortController();
  let timedOut = false;
  const onCallerAbort = () => controller.abort(request.signal.reason);
  if (request.signal.aborted) onCallerAbort();
  else request.signal.addEventListener('abort', onCallerAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeout);
  let sent: Request | undefined;
  try {
    sent = new Request(request, { signal: controller.signal });
    return await send(sent);
  } catch (error) {
    if (timedOut && !request.signal.aborted) {
      throw new McpAuthError('TIMEOUT', `${displayUrl(request.url)} did not answer in time`, { cause: error });
    }
    if (request.signal.aborted || (error instanceof Error && error.name === 'AbortError')) {
      throw new McpAuthError('ABORTED', 'the request was cancelled', { cause: error });
    }
    throw wrap(error, 'TRANSPORT', `cannot reach ${displayUrl(request.url)}`);
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener('abort', onCallerAbort);
    keepAlive(sent);
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
