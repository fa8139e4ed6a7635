/**
 * mcpauth: an OAuth 2.1 client for MCP clients and CLIs, the protocol implemented once in a
 * sans-IO Rust core compiled to WebAssembly.
 *
 * - {@link McpAuth}: discovery, client identity, login, tokens kept fresh, an authorizing fetch.
 * - Storage: {@link MemoryStorage}, {@link WebStorage}, or your own {@link Storage}.
 * - Browser logins: {@link redirectLogin} / {@link completeRedirectLogin}, {@link popupLogin} /
 *   {@link postCallbackToOpener}.
 * - `mcpauth/node`: `loopbackLogin` for command-line tools.
 * - `mcpauth/sdk`: `McpAuthProvider`, the MCP TypeScript SDK's `authProvider`.
 * - `mcpauth/core`: the WebAssembly boundary itself, for drivers of your own; {@link runMachine}
 *   is the loop that drives it here.
 *
 * @module
 */

export {
  McpAuth,
  type AuthorizationOptions,
  type AuthorizationRequired,
  type AuthorizationStart,
  type DeviceLoginOptions,
  type LoginOptions,
  type McpAuthFetchOptions,
  type McpAuthOptions,
  type PreRegisteredClient,
} from './client.js';
export { McpAuthError, type ErrorCode, type LocalErrorCode } from './errors.js';
export { runMachine, type DebugHook, type FetchLike, type ListenRequest, type MachineControl, type MachineIo, type SharedLock } from './pump.js';
export { MemoryStorage, WebStorage, type DomStorageLike, type Storage } from './storage.js';
export type { ClientKey, Signer } from './signing.js';
export {
  completeRedirectLogin,
  popupLogin,
  postCallbackToOpener,
  redirectLogin,
  type CompleteRedirectOptions,
  type PopupLoginOptions,
  type PostCallbackOptions,
} from './browser.js';
export type {
  BearerChallenge,
  ClientCredentials,
  CredentialSource,
  DevicePrompt,
  DpopKey,
  EnterpriseIdp,
  JwsAlg,
  MachineGrant,
  Discovered,
  Grant,
  LoginStatus,
  LogoutOutcome,
  Policy,
  Redirect,
  TokenSet,
} from './wire.js';
