/**
 * Errors of the TypeScript layer. They are `McpAuthError`s like the core's, with codes for what
 * only this layer can observe (a closed popup, a timeout); the OAuth and protocol errors and
 * their codes come from the core unchanged.
 *
 * @module
 */

import { McpAuthError } from './core.js';

export { McpAuthError };

/** Codes of errors raised by the TypeScript layer rather than the core. */
export type LocalErrorCode =
  /** No usable grant for the server: log in first (or the stored grant expired without a refresh token). */
  | 'LOGIN_REQUIRED'
  /** A callback arrived but this storage holds no pending authorization (another tab, or already used). */
  | 'NO_PENDING_AUTHORIZATION'
  /** The operation needs a redirect URI and none was configured. */
  | 'NO_REDIRECT_URI'
  /** No authorization response arrived in time. */
  | 'LOGIN_TIMEOUT'
  /** The caller's `AbortSignal` fired. */
  | 'ABORTED'
  /** `window.open` returned no window. */
  | 'POPUP_BLOCKED'
  /** The user closed the login popup. */
  | 'POPUP_CLOSED';

/** An `McpAuthError` raised by this layer. */
export function localError(code: LocalErrorCode, message: string): McpAuthError {
  return new McpAuthError(code, message);
}
