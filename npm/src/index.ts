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
 *
 * @module
 */

export {
  McpAuth,
  type AuthorizationOptions,
  type AuthorizationRequired,
  type AuthorizationStart,
  type DeviceLoginOptions,
  type McpAuthFetchOptions,
  type McpAuthOptions,
  type PreRegisteredClient,
} from './client.js';
export { McpAuthError, type LocalErrorCode } from './errors.js';
export { MemoryStorage, WebStorage, type DomStorageLike, type Storage } from './storage.js';
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
  AuthChallenge,
  BearerChallenge,
  ClientCredentials,
  Discovered,
  Grant,
  LoginOptions,
  Policy,
  TokenSet,
  DevicePrompt,
  DevicePollStatus,
  TokenExchangeParams,
  ExchangedToken,
} from './core.js';
