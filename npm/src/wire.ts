/**
 * The JSON that crosses the WebAssembly boundary, as TypeScript types.
 *
 * These types mirror, by hand, the wire structs of `wasm/src/*.rs` (`wire.rs`, `error.rs`,
 * `helpers.rs`) and the core records they carry (`Grant`, `TokenSet`, `BearerChallenge`,
 * `Policy`, `LoginConfig`, `Discovered`, `LoginStatus`), field for field. Change them together
 * with the Rust side until they are generated from it.
 *
 * Conventions: configurations and inputs are camelCase; the core's records keep their serde
 * shape (snake_case, like the OAuth wire names); tags are snake_case. Times are milliseconds
 * since the Unix epoch. `null` and an absent field mean the same.
 *
 * @module
 */

// ----- errors ------------------------------------------------------------------------------------

/** One error. `code` is stable; see {@link CoreErrorCode}. */
export interface ErrorJson {
  code: CoreErrorCode;
  message: string;
  /** The server's OAuth error response (RFC 6749 §5.2), for `OAUTH_ERROR`. */
  oauth?: {
    error: string;
    error_description?: string;
    error_uri?: string;
    /** The HTTP status (0 for an error carried by the authorization redirect). */
    status: number;
    /** The endpoint that answered, or `authorization response`. */
    where: string;
  };
}

/** The codes of the core (and `INVALID_ARGUMENT` of the boundary), as `constants().errorCodes` lists them. */
export type CoreErrorCode =
  // the server's OAuth error body
  | 'OAUTH_ERROR'
  // the server broke the protocol
  | 'UNEXPECTED_STATUS'
  | 'UNEXPECTED_REDIRECT'
  | 'RESPONSE_TOO_LARGE'
  | 'INVALID_JSON'
  | 'MISSING_FIELD'
  | 'INVALID_FIELD'
  | 'INVALID_HEADER'
  | 'TEMPORARILY_UNAVAILABLE'
  | 'DISCOVERY_FAILED'
  // a security check
  | 'INSECURE_URL'
  | 'ISSUER_MISMATCH'
  | 'RESOURCE_MISMATCH'
  | 'PKCE_NOT_SUPPORTED'
  | 'STATE_MISSING'
  | 'STATE_MISMATCH'
  | 'ISS_MISSING'
  | 'ISS_MISMATCH'
  | 'CREDENTIALS_FOR_OTHER_ISSUER'
  | 'STEP_UP_LIMIT'
  // misuse
  | 'INVALID_URL'
  | 'MISSING_ENDPOINT'
  | 'NO_CLIENT_IDENTITY'
  | 'INVALID_CLIENT_METADATA'
  | 'INVALID_STATE'
  | 'NO_REFRESH_TOKEN'
  | 'INVALID_PARAMETER'
  // the flow
  | 'TIMEOUT'
  | 'TRANSPORT'
  | 'ABORTED'
  | 'LOGIN_REQUIRED'
  | 'PERSISTENT_UNAUTHORIZED'
  | 'STORE_RECORD_UNREADABLE'
  | 'ENTROPY_UNAVAILABLE'
  // the boundary
  | 'INVALID_ARGUMENT';

// ----- machines ----------------------------------------------------------------------------------

/** The machines `machine_new` makes. */
export type MachineKind = 'login' | 'resume' | 'access' | 'logout' | 'discover';

/** One request to send (`wire.rs` `TransmitJson`). */
export interface Transmit {
  id: number;
  method: 'GET' | 'POST';
  url: string;
  headers: [string, string][];
  body: string | null;
  /** Read at most one byte more than this. */
  maxResponseBytes: number;
  /** Give up after this long: report `{kind: "timeout"}`. */
  timeoutMs: number;
  followRedirects: boolean;
}

/** What `machine_drain` returns. */
export interface Drained {
  transmits: Transmit[];
  events: MachineEvent[];
  /** When to send a `timeout` input; `null`: nothing waits on time. */
  timeout: number | null;
}

/** What the user is shown in a device login (RFC 8628 §3.3). The device code stays in the core. */
export interface DevicePrompt {
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_at: number;
  /** The polling interval, in milliseconds. */
  interval: number;
}

/** One event (`wire.rs` `EventJson`, and `done`). Act on them in order. */
export type MachineEvent =
  | { kind: 'load'; key: string }
  | { kind: 'save'; key: string; record: string }
  | { kind: 'delete'; key: string }
  | { kind: 'lock'; key: string }
  | { kind: 'listen'; port: number | null; required: boolean; path: string }
  | { kind: 'authorize'; url: string }
  | { kind: 'foreign_callback' }
  | ({ kind: 'device_code' } & DevicePrompt)
  | { kind: 'warning'; error: ErrorJson }
  | { kind: 'done'; ok: unknown; error?: undefined }
  | { kind: 'done'; error: ErrorJson; ok?: undefined };

/** Why a request produced no response (the core's `Failure`). */
export type FailureJson = { kind: 'transport'; reason: string } | { kind: 'timeout' } | { kind: 'aborted' };

/** What `machine_input` takes (`wire.rs` `Input`). */
export type MachineInput =
  | { kind: 'failure'; id: number; failure: FailureJson }
  | { kind: 'timeout' }
  | { kind: 'loaded'; key: string; record: string | null }
  | { kind: 'locked' }
  | { kind: 'callback'; url: string }
  | { kind: 'redirect_uri'; uri: string }
  | { kind: 'abort' };

// ----- machine configurations --------------------------------------------------------------------

/** The core's `Policy`. Everything is safe by default; each weakening option says so. */
export interface Policy {
  /** Plain `http://` on any host (loopback is always allowed). For test servers only. */
  dangerouslyAllowInsecureHttp?: boolean;
  /** Assume PKCE S256 when the metadata has no `code_challenge_methods_supported`. */
  dangerouslyAssumePkceS256?: boolean;
  /** The 2025-03-26 MCP fallbacks: metadata at the MCP origin, then `/authorize`, `/token`, `/register`. */
  legacy20250326Fallbacks?: boolean;
  /** The largest response body accepted (default 1 MiB). */
  maxResponseBytes?: number;
}

/** How the user agent comes back (the core's `Redirect`). */
export type Redirect = { kind: 'loopback'; port?: number } | { kind: 'fixed'; uri: string } | { kind: 'device' };

/** Credentials registered out of band (the core's `PreRegistered`). */
export interface PreRegistered {
  /** The issuer they belong to; absent: whichever one the server names. */
  issuer?: string;
  clientId: string;
  clientSecret?: string;
  authMethod?: TokenEndpointAuthMethod;
}

/** `machine_new("login", ...)`: the core's `LoginConfig`. */
export interface LoginConfig {
  server: string;
  redirect?: Redirect;
  /** An explicit scope; `""` sends none. */
  scope?: string;
  preregistered?: PreRegistered[];
  clientMetadataUrl?: string;
  clientName?: string;
  applicationType?: 'native' | 'web';
  challenge?: BearerChallenge;
  previousScope?: string;
  extraParams?: [string, string][];
  dangerouslyOmitResource?: boolean;
  issuer?: string;
  probe?: boolean;
  serverHeaders?: [string, string][];
  /** The whole login's deadline (default 300 000); `null`: none. */
  timeoutMs?: number | null;
  requestTimeoutMs?: number;
  policy?: Policy;
}

/** `machine_new("resume", ...)`: a web login saved at the callback boundary. */
export interface ResumeConfig {
  key: string;
  record: string;
}

/** `machine_new("access", ...)`. */
export interface AccessConfig {
  server: string;
  /** The token a server just refused. */
  rejected?: string;
  policy?: Policy;
  requestTimeoutMs?: number;
}

/** `machine_new("logout", ...)`. */
export interface LogoutConfig {
  server: string;
  revoke?: boolean;
  policy?: Policy;
  requestTimeoutMs?: number;
}

/** `machine_new("discover", ...)`. */
export interface DiscoverConfig {
  server: string;
  resourceMetadata?: string;
  issuer?: string;
  policy?: Policy;
  requestTimeoutMs?: number;
}

/** The configuration of each kind. */
export interface MachineConfigs {
  login: LoginConfig;
  resume: ResumeConfig;
  access: AccessConfig;
  logout: LogoutConfig;
  discover: DiscoverConfig;
}

/** What each kind's `done` carries in `ok`. */
export interface MachineOutputs {
  login: LoginOutcome;
  resume: LoginOutcome;
  access: Grant;
  logout: LogoutOutcome;
  discover: Discovered;
}

// ----- the protected request ---------------------------------------------------------------------

/** What `protected_step` takes (`wire.rs` `StepInput`); `machine` is a finished machine's handle. */
export type StepInput =
  | { kind: 'start'; machine: number }
  | { kind: 'response'; status: number; wwwAuthenticate: string[] }
  | { kind: 'refreshed'; machine: number }
  | { kind: 'login'; machine: number };

/** What `protected_step` returns (`wire.rs` `ActionJson`); a failure is `{error}`. */
export type Action =
  | { action: 'send'; authorization: string | null }
  | { action: 'refresh'; rejected: string }
  | { action: 'login'; challenge: BearerChallenge; previousScope: string | null; attempt: number; stepUp: boolean }
  | { action: 'return' };

// ----- records of the core -----------------------------------------------------------------------

/** How the client authenticates at the token endpoint (RFC 7591 §2). */
export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

/** A client identity at one authorization server; never sent to another. */
export interface ClientCredentials {
  issuer: string;
  client_id: string;
  client_secret?: string | null;
  auth_method: TokenEndpointAuthMethod;
}

/** Tokens from a token endpoint. */
export interface TokenSet {
  access_token: string;
  token_type: string;
  refresh_token?: string | null;
  /** Milliseconds since the epoch. */
  expires_at?: number | null;
  scope?: string | null;
  id_token?: string | null;
}

/** The tokens for one MCP server, with what it takes to refresh and revoke them. */
export interface Grant {
  server: string;
  resource: string;
  issuer: string;
  client: ClientCredentials;
  token_endpoint: string;
  revocation_endpoint?: string | null;
  /** Whether `resource` is sent on refresh (as the login did). */
  send_resource: boolean;
  tokens: TokenSet;
  updated_at: number;
}

/** The parameters of a Bearer challenge (RFC 6750 §3, RFC 9728 §5.1). */
export interface BearerChallenge {
  realm?: string | null;
  scope?: string | null;
  error?: string | null;
  error_description?: string | null;
  error_uri?: string | null;
  resource_metadata?: string | null;
}

/** A finished login. */
export interface LoginOutcome {
  grant: Grant;
  /** Who logged in (ID token or userinfo), for display. */
  identity: string | null;
}

/** A finished logout. */
export interface LogoutOutcome {
  /** The server confirmed the revocation. */
  revoked: boolean;
}

/** Authorization server metadata (RFC 8414 §2); the fields the package reads. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint?: string | null;
  token_endpoint?: string | null;
  registration_endpoint?: string | null;
  [field: string]: unknown;
}

/** Protected resource metadata (RFC 9728 §2); the fields the package reads. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  [field: string]: unknown;
}

/** What discovery found. */
export interface Discovered {
  server: string;
  /** The RFC 8707 resource. */
  resource: string;
  resource_metadata?: ProtectedResourceMetadata | null;
  issuer: string;
  metadata: AuthorizationServerMetadata;
  legacy_2025_03_26: boolean;
}

/** A stored grant, as `stored_grant` reads it. */
export interface StoredGrant {
  grant: Grant;
  identity: string | null;
}

/** What a status display shows of one stored login (the core's `LoginStatus`). */
export interface LoginStatus {
  server: string;
  issuer: string;
  scope?: string;
  /** Milliseconds left on the access token; absent: no expiry given; 0: expired. */
  expires_in_ms?: number;
  refreshable: boolean;
  identity?: string;
}

/** What `constants` returns. */
export interface Constants {
  grantPrefix: string;
  pendingPrefix: string;
  callbackPath: string;
  errorCodes: CoreErrorCode[];
}
