/**
 * Layer 1: the Rust core through WebAssembly, with precise types.
 *
 * Every OAuth decision happens in the core; these functions only convert and type. Three kinds of
 * export, named like the core's (and oauth4webapi's) functions:
 *
 * - Pairs: `xxxRequest(...)` builds an {@link HttpRequest}, `processXxxResponse(...)` validates
 *   the {@link HttpResponse} you got for it. Send requests with {@link sendRequest} (or your own
 *   fetch with `redirect: "manual"` and the body capped at `maxResponseBytes`).
 * - Machines: {@link Discovery}, {@link DevicePoll}, {@link StepUpTracker}.
 * - Async flows over `fetch`: {@link discover}, {@link obtainClient}, {@link exchangeCode},
 *   {@link refreshGrant}, {@link revokeGrant}, {@link exchangeToken}, {@link deviceLogin}. Each
 *   takes {@link IoOptions} last: `fetch` (default: `globalThis.fetch` at call time) and
 *   `policy`.
 *
 * Records (metadata, {@link Discovered}, {@link TokenSet}, {@link Grant}, ...) are plain objects in
 * the core's own shape, snake_case like the OAuth wire names; `JSON.stringify` them to store them
 * and pass the parsed value back. Their types are generated from the core's Rust types. Times are
 * milliseconds since the epoch. Options objects are camelCase. Every failure is a
 * {@link McpAuthError} with a stable `code`.
 *
 * @module
 */

import type {
  ApplicationType,
  AuthorizationServerMetadata,
  BearerChallenge,
  Challenge,
  ClientCredentials,
  ClientMetadata,
  DeviceAuthorization,
  Discovered,
  DisplayIdentity,
  ExchangedToken,
  Grant,
  PendingAuthorization,
  Policy,
  ProtectedResourceMetadata,
  Registration,
  RequestId,
  TokenEndpointAuthMethod,
  TokenSet,
} from './generated/index.js';
import type { AuthorizationResponse as WasmAuthorizationResponse } from './wasm/mcpauth_wasm.js';
import { bindings as wasm } from './wasm.js';

export type * from './generated/index.js';

// ----- HTTP -------------------------------------------------------------------------------------

/** A request the core built; send it exactly as given. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  /** Lowercase names, in order. */
  headers: [string, string][];
  body?: Uint8Array;
  /** Stop reading the body past this many bytes (the core refuses a longer one). */
  maxResponseBytes: number;
}

/** Header forms accepted wherever a response goes into the core. */
export type HeadersLike = [string, string][] | Iterable<[string, string]> | Record<string, string>;

/** A response as handed to a `process*Response` function. */
export interface HttpResponse {
  status: number;
  headers?: HeadersLike;
  /** `undefined` for an empty body; a string is taken as UTF-8. */
  body?: Uint8Array | ArrayBuffer | string;
}

/** A response as {@link sendRequest} returns it. */
export interface ReceivedResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/** The `fetch` the async functions call; `globalThis.fetch` fits. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The I/O options of every async function. */
export interface IoOptions {
  /** Default: `globalThis.fetch`, looked up when the call starts. */
  fetch?: FetchLike;
  policy?: Policy;
}

// ----- Records ----------------------------------------------------------------------------------

// The records the core produces and takes back in its own serde shape (metadata, Discovered,
// ClientCredentials, Registration, PendingAuthorization, TokenSet, Grant, ...) are generated
// from the Rust types into ./generated/ by scripts/gen-types; they cannot drift from the core.
// The types below are this package's own: options objects and results the binding assembles.

/** Inputs of the MCP client identity choice. */
export interface IdentityOptions {
  /** Tried first; an error (not a fallback) when they belong to another issuer. */
  preregistered?: ClientCredentials;
  /** A registration made earlier, used when it is for the same issuer. */
  cachedRegistration?: ClientCredentials;
  /** The https URL of this client's metadata document, used where the server supports CIMD. */
  metadataDocumentUrl?: string;
  /** What to register when it comes to dynamic registration. */
  clientMetadata: ClientMetadata;
}

/** The outcome of {@link planClientIdentity}. */
export type IdentityPlan =
  | { kind: 'ready'; credentials: ClientCredentials }
  | { kind: 'register'; request: HttpRequest };

/** The outcome of {@link obtainClient}. */
export interface ObtainedClient {
  credentials: ClientCredentials;
  /** A registration was made now: persist it. */
  registered: boolean;
  registration?: Registration;
}

/** Options of a login (authorization URL or device flow). */
export interface LoginOptions {
  /** An explicit scope, replacing the MCP selection. */
  scope?: string;
  /** The `scope` of the challenge that asked for this login. */
  challengeScope?: string;
  /** The scope already granted, united with the new one on step-up. */
  previousScope?: string;
  /** Extra authorization request parameters; they cannot override the core's. */
  extraParams?: [string, string][];
  /** Leave out RFC 8707 `resource`. For servers that reject it. */
  dangerouslyOmitResource?: boolean;
}

/** The outcome of a refresh. */
export interface Refreshed {
  grant: Grant;
  /** The server issued a new refresh token. */
  rotated: boolean;
}

/** What a 401 or 403 asks for. */
export interface AuthChallenge {
  kind: 'unauthorized' | 'insufficient_scope';
  challenge: BearerChallenge;
}

/** What to show the user in a device login. */
export interface DevicePrompt {
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_at: number;
  /** Milliseconds. */
  interval: number;
}

/** The outcome of one device poll ({@link DevicePoll.handleResponse}). */
export type DeviceStatus =
  | { status: 'pending' }
  | { status: 'slow_down'; interval: number }
  | { status: 'expired' }
  | { status: 'denied' }
  | { status: 'tokens'; tokens: TokenSet };

/** What {@link deviceLogin}'s `onPoll` hears between polls. */
export type DevicePollStatus =
  | { status: 'pending' }
  | { status: 'slow_down'; interval: number }
  | { status: 'retrying'; error: McpAuthError };

/** RFC 8693 §2.1 token exchange parameters. */
export interface TokenExchangeParams {
  subjectToken: string;
  subjectTokenType: string;
  actorToken?: string;
  actorTokenType?: string;
  requestedTokenType?: string;
  resource?: string;
  audience?: string;
  scope?: string;
}

// ----- Errors -----------------------------------------------------------------------------------

/** Which party is at fault. */
export type ErrorKind = 'oauth' | 'protocol' | 'security' | 'usage' | 'transport' | 'environment';

/** Codes of the core and of the binding; other layers may add theirs. */
export type ErrorCode =
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
  | 'ENTROPY_UNAVAILABLE'
  // the binding
  | 'INVALID_ARGUMENT'
  | 'FETCH_FAILED'
  | 'HOST_API_MISSING'
  | 'ABORTED'
  | 'CONVERSION_FAILED'
  | 'INTERNAL'
  | (string & {});

/** Fields of a {@link McpAuthError} besides `code` and `message`. */
export interface McpAuthErrorFields {
  kind?: ErrorKind;
  /** OAuth `error` (RFC 6749 §5.2), for `OAUTH_ERROR`. */
  error?: string;
  errorDescription?: string;
  errorUri?: string;
  /** The HTTP status, where one caused the error. */
  status?: number;
  /** Seconds, from `Retry-After`, for `TEMPORARILY_UNAVAILABLE`. */
  retryAfter?: number;
  cause?: unknown;
}

/** Every error of mcpauth: an `Error` whose `name` is `McpAuthError`, with a stable `code`. */
export interface McpAuthError extends Error, Omit<McpAuthErrorFields, 'cause'> {
  readonly name: 'McpAuthError';
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
}

/** The {@link McpAuthError} class. */
export interface McpAuthErrorConstructor {
  new (code: ErrorCode, message: string, fields?: McpAuthErrorFields): McpAuthError;
  readonly prototype: McpAuthError;
}

/**
 * The class of every error thrown by the core and this package; `err instanceof McpAuthError`
 * works for errors thrown inside the WebAssembly module too.
 */
export const McpAuthError: McpAuthErrorConstructor = wasm.mcpAuthErrorClass();

/** The error is the server's `invalid_grant`: the grant is dead, drop it and log in again. */
export const isInvalidGrant: (error: unknown) => boolean = wasm.isInvalidGrant;

/** The error is the server's `invalid_client`: drop the cached registration and plan again. */
export const isInvalidClient: (error: unknown) => boolean = wasm.isInvalidClient;

// ----- Helpers ----------------------------------------------------------------------------------

/** The canonical MCP server URI (lowercase scheme and host, no default port, no trailing slash). */
export const canonicalResourceUri: (url: string) => string = wasm.canonicalResourceUri;

/** `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2). */
export const pkceChallenge: (verifier: string) => string = wasm.pkceChallenge;

/** A fresh PKCE verifier and challenge (RFC 7636 §4.1). */
export const generatePkce: () => { verifier: string; challenge: string } = wasm.generatePkce;

/** Sends one request as the core requires (`redirect: "manual"`, body capped). */
export function sendRequest(request: HttpRequest, io: Pick<IoOptions, 'fetch'> = {}): Promise<ReceivedResponse> {
  return wasm.sendRequest(request, io.fetch);
}

// ----- Discovery --------------------------------------------------------------------------------

/** Protected resource metadata URLs for `serverUrl`, in order (RFC 9728 §3.1). */
export function protectedResourceMetadataUrls(serverUrl: string, resourceMetadata?: string, policy?: Policy): string[] {
  return wasm.protectedResourceMetadataUrls(serverUrl, resourceMetadata, policy);
}

/** The `GET` of one protected resource metadata URL. */
export function protectedResourceMetadataRequest(url: string, policy?: Policy): HttpRequest {
  return wasm.protectedResourceMetadataRequest(url, policy);
}

/** Validates protected resource metadata fetched for `serverUrl` from `url` (RFC 9728 §3.3). */
export function processProtectedResourceMetadataResponse(
  serverUrl: string,
  url: string,
  response: HttpResponse,
  policy?: Policy,
): ProtectedResourceMetadata {
  return wasm.processProtectedResourceMetadataResponse(serverUrl, url, response, policy);
}

/** Authorization server metadata URLs for `issuer`, in the MCP order. */
export function authorizationServerMetadataUrls(issuer: string, policy?: Policy): string[] {
  return wasm.authorizationServerMetadataUrls(issuer, policy);
}

/** The `GET` of one authorization server metadata URL. */
export function authorizationServerMetadataRequest(url: string, policy?: Policy): HttpRequest {
  return wasm.authorizationServerMetadataRequest(url, policy);
}

/** Validates authorization server metadata; its `issuer` must equal `expectedIssuer` exactly (RFC 8414 §3.3). */
export function processAuthorizationServerMetadataResponse(
  expectedIssuer: string,
  url: string,
  response: HttpResponse,
  policy?: Policy,
): AuthorizationServerMetadata {
  return wasm.processAuthorizationServerMetadataResponse(expectedIssuer, url, response, policy);
}

/** Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1). */
export const parseWwwAuthenticate: (header: string) => Challenge[] = wasm.parseWwwAuthenticate;

/**
 * What a resource server's response asks for: `undefined` unless it is a 401, or a 403 with
 * `error="insufficient_scope"`. Takes a fetch `Response` as it is (only status and headers are read).
 */
export function classifyResponse(response: { status: number; headers: HeadersLike | Headers }): AuthChallenge | undefined {
  return wasm.classifyResponse({ status: response.status, headers: response.headers });
}

/** The discovery state machine (MCP order, fallbacks, concurrent batches). */
export interface Discovery {
  /** The next request to send, or `undefined`; poll again after each `handle*`. */
  pollTransmit(): { id: RequestId; request: HttpRequest } | undefined;
  handleResponse(id: RequestId, response: HttpResponse): void;
  /** The request got no response (network error, CORS, timeout). */
  handleFailure(id: RequestId, reason: string): void;
  /** `Discovered` when done, `undefined` while running; throws discovery's error. */
  pollResult(): Discovered | undefined;
  free(): void;
}

/** Constructors of {@link Discovery}. */
export interface DiscoveryConstructor {
  /** Starts at protected resource metadata; `resourceMetadata` from the 401 challenge, if any. */
  new (serverUrl: string, resourceMetadata?: string, policy?: Policy): Discovery;
  /** Starts at a configured authorization server. */
  withIssuer(serverUrl: string, issuer: string, policy?: Policy): Discovery;
}

export const Discovery: DiscoveryConstructor = wasm.Discovery as unknown as DiscoveryConstructor;

/** Options of {@link discover}. */
export interface DiscoverOptions extends IoOptions {
  /** The `resource_metadata` of the server's 401 challenge. */
  resourceMetadata?: string;
  /** A configured authorization server: skips protected resource metadata. */
  issuer?: string;
}

/** Discovers the authorization server of the MCP server at `serverUrl`. */
export function discover(serverUrl: string, options: DiscoverOptions = {}): Promise<Discovered> {
  return options.issuer === undefined
    ? wasm.discover(serverUrl, options.resourceMetadata, options.policy, options.fetch)
    : wasm.discoverWithIssuer(serverUrl, options.issuer, options.policy, options.fetch);
}

// ----- Client identity --------------------------------------------------------------------------

/** Chooses the client identity in the MCP order; may ask for a registration request. */
export function planClientIdentity(metadata: AuthorizationServerMetadata, options: IdentityOptions, policy?: Policy): IdentityPlan {
  return wasm.planClientIdentity(metadata, options, policy);
}

/** The RFC 7591 registration request. */
export function registrationRequest(metadata: AuthorizationServerMetadata, clientMetadata: ClientMetadata, policy?: Policy): HttpRequest {
  return wasm.registrationRequest(metadata, clientMetadata, policy);
}

/** Validates a registration response (RFC 7591 §3.2). */
export function processRegistrationResponse(
  metadata: AuthorizationServerMetadata,
  url: string,
  response: HttpResponse,
  policy?: Policy,
): Registration {
  return wasm.processRegistrationResponse(metadata, url, response, policy);
}

/** The JSON document to serve at `clientId` for client ID metadata document clients. */
export const clientIdMetadataDocument: (clientId: string, clientMetadata: ClientMetadata) => string =
  wasm.clientIdMetadataDocument;

/** Options of {@link clientMetadata}. */
export interface ClientMetadataOptions {
  clientName: string;
  /** None: a device-only client (with `deviceGrant`). */
  redirectUris?: string[];
  /** Default: inferred at registration from the redirect URIs (all loopback: native). */
  applicationType?: ApplicationType;
  /** Add the device code grant. */
  deviceGrant?: boolean;
}

/** The client metadata of a public MCP client, as the core builds it. */
export function clientMetadata(options: ClientMetadataOptions): ClientMetadata {
  return wasm.clientMetadata(options);
}

/** The token endpoint auth method for a client with or without a secret at `metadata`'s server. */
export function chooseTokenEndpointAuthMethod(metadata: AuthorizationServerMetadata, hasSecret: boolean): TokenEndpointAuthMethod {
  return wasm.chooseTokenEndpointAuthMethod(metadata, hasSecret) as TokenEndpointAuthMethod;
}

/** The registration's client secret has expired: register again. */
export function registrationIsSecretExpired(registration: Registration, now?: number): boolean {
  return wasm.registrationIsSecretExpired(registration, now);
}

/** A client identity for `discovered` (plan, then dynamic registration if needed). */
export function obtainClient(discovered: Discovered, options: IdentityOptions, io: IoOptions = {}): Promise<ObtainedClient> {
  return wasm.obtainClient(discovered, options, io.policy, io.fetch);
}

// ----- Authorization code flow ------------------------------------------------------------------

/** The scope a login asks for (MCP scope selection, step-up union). */
export function loginScope(discovered: Discovered, options?: LoginOptions): string | undefined {
  return wasm.loginScope(discovered, options);
}

/** The authorization URL and the pending authorization to keep until the callback. */
export function startAuthorization(
  discovered: Discovered,
  client: ClientCredentials,
  redirectUri: string,
  options?: LoginOptions,
  policy?: Policy,
): { url: string; pending: PendingAuthorization } {
  return wasm.startAuthorization(discovered, client, redirectUri, options, policy);
}

/** A validated authorization response; only {@link validateAuthorizationResponse} makes one. */
export interface AuthorizationResponse {
  /** The code was exchanged (it is used once). */
  readonly spent: boolean;
  free(): void;
}

/** Checks the callback URL (or query) against `pending`: state, `iss`, error, code. */
export function validateAuthorizationResponse(pending: PendingAuthorization, callback: string): AuthorizationResponse {
  return wasm.validateAuthorizationResponse(pending, callback);
}

/**
 * Whether `callback` carries the state of the login `pending` (constant-time compare): a
 * listener for the redirect ignores, and keeps waiting after, a callback that does not.
 */
export function callbackBelongsTo(pending: PendingAuthorization, callback: string): boolean {
  return wasm.callbackBelongsTo(pending, callback);
}

/** The code exchange request; spends `response`. */
export function authorizationCodeGrantRequest(
  pending: PendingAuthorization,
  response: AuthorizationResponse,
  client: ClientCredentials,
  policy?: Policy,
): HttpRequest {
  return wasm.authorizationCodeGrantRequest(pending, response as WasmAuthorizationResponse, client, policy);
}

/** Validates the code exchange response. `now` defaults to `Date.now()`. */
export function processAuthorizationCodeResponse(
  pending: PendingAuthorization,
  url: string,
  response: HttpResponse,
  policy?: Policy,
  now?: number,
): TokenSet {
  return wasm.processAuthorizationCodeResponse(pending, url, response, policy, now);
}

/** Exchanges the code of a validated response for tokens; spends `response`. */
export function exchangeCode(
  pending: PendingAuthorization,
  response: AuthorizationResponse,
  client: ClientCredentials,
  io: IoOptions = {},
): Promise<TokenSet> {
  return wasm.exchangeCode(pending, response as WasmAuthorizationResponse, client, io.policy, io.fetch);
}

// ----- Grants -----------------------------------------------------------------------------------

/** The grant record after a login with `options` (they decide whether refreshes send `resource`). */
export function newGrant(
  discovered: Discovered,
  client: ClientCredentials,
  tokens: TokenSet,
  options?: LoginOptions,
  now?: number,
): Grant {
  return wasm.newGrant(discovered, client, tokens, options, now);
}

/** The storage key of a grant: of `grant`, or of `serverUrl` at `issuer`. */
export function grantKey(grant: Grant): string;
export function grantKey(serverUrl: string, issuer: string): string;
export function grantKey(grantOrServer: Grant | string, issuer?: string): string {
  return typeof grantOrServer === 'string'
    ? wasm.grantKey(grantOrServer, issuer ?? '')
    : wasm.grantKey(grantOrServer.server, grantOrServer.issuer);
}

/** The storage key of the client registration at `issuer`. */
export const registrationKey: (issuer: string) => string = wasm.registrationKey;

/** The access token expires within the refresh margin and a refresh token exists. */
export function grantNeedsRefresh(grant: Grant, now?: number): boolean {
  return wasm.grantNeedsRefresh(grant, now);
}

/** The access token has expired. */
export function grantIsExpired(grant: Grant, now?: number): boolean {
  return wasm.grantIsExpired(grant, now);
}

/** Who is logged in, from the unverified ID token: display only. */
export function grantDisplayIdentity(grant: Grant): DisplayIdentity | undefined {
  return wasm.grantDisplayIdentity(grant);
}

/** The refresh request of `grant`. */
export function grantRefreshRequest(grant: Grant, policy?: Policy): HttpRequest {
  return wasm.grantRefreshRequest(grant, policy);
}

/** Applies a refresh response to `grant`. */
export function processGrantRefreshResponse(grant: Grant, response: HttpResponse, policy?: Policy, now?: number): Refreshed {
  return wasm.processGrantRefreshResponse(grant, response, policy, now);
}

/** Refreshes `grant`. Never run two refreshes of one grant at once: share the promise. */
export function refreshGrant(grant: Grant, io: IoOptions = {}): Promise<Refreshed> {
  return wasm.refreshGrant(grant, io.policy, io.fetch);
}

/** The logout revocation request of `grant`, or `undefined` without a revocation endpoint. */
export function grantRevocationRequest(grant: Grant, policy?: Policy): HttpRequest | undefined {
  return wasm.grantRevocationRequest(grant, policy);
}

/** Validates a revocation response (RFC 7009 §2.2). */
export function processRevocationResponse(url: string, response: HttpResponse, policy?: Policy): void {
  wasm.processRevocationResponse(url, response, policy);
}

/** Revokes `grant`; `false` when the server has no revocation endpoint. */
export function revokeGrant(grant: Grant, io: IoOptions = {}): Promise<boolean> {
  return wasm.revokeGrant(grant, io.policy, io.fetch);
}

// ----- Token exchange ---------------------------------------------------------------------------

/** The RFC 8693 token exchange request at `tokenEndpoint`. */
export function tokenExchangeRequest(
  tokenEndpoint: string,
  params: TokenExchangeParams,
  client: ClientCredentials,
  policy?: Policy,
): HttpRequest {
  return wasm.tokenExchangeRequest(tokenEndpoint, params, client, policy);
}

/** Validates a token exchange response. */
export function processTokenExchangeResponse(url: string, response: HttpResponse, policy?: Policy, now?: number): ExchangedToken {
  return wasm.processTokenExchangeResponse(url, response, policy, now);
}

/** Exchanges a token at `tokenEndpoint` (RFC 8693). */
export function exchangeToken(
  tokenEndpoint: string,
  params: TokenExchangeParams,
  client: ClientCredentials,
  io: IoOptions = {},
): Promise<ExchangedToken> {
  return wasm.exchangeToken(tokenEndpoint, params, client, io.policy, io.fetch);
}

// ----- Device authorization grant ---------------------------------------------------------------

/** The RFC 8628 device authorization request. */
export function deviceAuthorizationRequest(
  metadata: AuthorizationServerMetadata,
  client: ClientCredentials,
  scope?: string,
  resource?: string,
  policy?: Policy,
): HttpRequest {
  return wasm.deviceAuthorizationRequest(metadata, client, scope, resource, policy);
}

/** Validates the device authorization response. */
export function processDeviceAuthorizationResponse(
  url: string,
  response: HttpResponse,
  policy?: Policy,
  now?: number,
): DeviceAuthorization {
  return wasm.processDeviceAuthorizationResponse(url, response, policy, now);
}

/** The device polling machine (RFC 8628 §3.4, §3.5). Times are milliseconds since the epoch. */
export interface DevicePoll {
  /** When to call `pollTransmit` next, or `undefined` (in flight, or finished). */
  pollTimeout(): number | undefined;
  /** The request to send now, or `undefined`. */
  pollTransmit(now?: number): HttpRequest | undefined;
  /** Feeds the response; after a thrown error, `isFinished` says whether polling may go on. */
  handleResponse(response: HttpResponse, now?: number): DeviceStatus;
  /** The poll got no response; the machine backs off. */
  handleFailure(now?: number): void;
  readonly deadline: number;
  /** Milliseconds. */
  readonly interval: number;
  readonly prompt: DevicePrompt;
  readonly isFinished: boolean;
  readonly isExpired: boolean;
  /** Plain value for storage; holds the device code. */
  toJSON(): unknown;
  free(): void;
}

/** Constructors of {@link DevicePoll}. */
export interface DevicePollConstructor {
  new (
    authorization: DeviceAuthorization,
    metadata: AuthorizationServerMetadata,
    client: ClientCredentials,
    resource?: string,
    policy?: Policy,
    now?: number,
  ): DevicePoll;
  fromJSON(value: unknown, policy?: Policy): DevicePoll;
}

export const DevicePoll: DevicePollConstructor = wasm.DevicePoll as unknown as DevicePollConstructor;

/** Options of {@link deviceLogin}. */
export interface DeviceLoginOptions extends IoOptions {
  loginOptions?: LoginOptions;
  /** Show the user the code and where to enter it; awaited if it returns a promise. */
  onPrompt: (prompt: DevicePrompt) => unknown;
  /** Hears every intermediate status. */
  onPoll?: (status: DevicePollStatus) => unknown;
  /** Cancels the flow (`ABORTED`). */
  signal?: AbortSignal;
}

/**
 * Logs in with the device authorization grant. Rejects with `OAUTH_ERROR` whose `error` is
 * `access_denied` or `expired_token` when the user refused or the code expired.
 */
export function deviceLogin(discovered: Discovered, client: ClientCredentials, options: DeviceLoginOptions): Promise<TokenSet> {
  const { loginOptions, signal, onPrompt, onPoll, policy, fetch } = options;
  return wasm.deviceLogin(discovered, client, { ...loginOptions, signal }, onPrompt, onPoll, policy, fetch);
}

// ----- Step-up ----------------------------------------------------------------------------------

/** The union of two scope lists (step-up). */
export const unionScopes: (granted: string, challenged: string) => string = wasm.unionScopes;

/** Counts step-up attempts per resource and operation; refuses past the core's limit. */
export interface StepUpTracker {
  /** Records an attempt; throws `STEP_UP_LIMIT` past the limit. Returns the attempt number. */
  beginAttempt(resource: string, operation?: string): number;
  succeeded(resource: string, operation?: string): void;
  attempts(resource: string, operation?: string): number;
  toJSON(): unknown;
  free(): void;
}

/** Constructors of {@link StepUpTracker}. */
export interface StepUpTrackerConstructor {
  new (): StepUpTracker;
  fromJSON(value: unknown): StepUpTracker;
}

export const StepUpTracker: StepUpTrackerConstructor = wasm.StepUpTracker as unknown as StepUpTrackerConstructor;
