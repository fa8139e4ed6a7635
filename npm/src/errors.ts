/**
 * `McpAuthError`, the one error class of the package. Every failure that leaves its API is one,
 * with a stable `code`: the core's codes unchanged (from the boundary's `ErrorJson`), and a few
 * for what only this layer can observe.
 *
 * The exception: an error thrown by a function you pass in (`onAuthorizationRequired`,
 * `openBrowser`, `onPrompt`, ...) ends the operation and reaches you unchanged.
 *
 * @module
 */

import type { ErrorCode } from './generated/index.js';
import type { ErrorJson } from './wire.js';

/** Codes of errors raised by this layer rather than the core: the storage threw (`STORE`), no
 * login waits for a callback, no redirect URI, a loopback port taken, a popup blocked or closed. */
export type LocalErrorCode = Extract<
  ErrorCode,
  'STORE' | 'NO_PENDING_AUTHORIZATION' | 'NO_REDIRECT_URI' | 'PORT_IN_USE' | 'POPUP_BLOCKED' | 'POPUP_CLOSED'
>;

/** Every code an {@link McpAuthError} can have: the one catalogue, generated from the Rust core. */
export type { ErrorCode };

/** Fields of an {@link McpAuthError} besides `code` and `message`. */
export interface McpAuthErrorFields {
  /** The server's OAuth error, for `OAUTH_ERROR`. */
  oauth?: ErrorJson['oauth'];
  cause?: unknown;
}

/** Every error of mcpauth: an `Error` named `McpAuthError` with a stable `code`. */
export class McpAuthError extends Error {
  override readonly name = 'McpAuthError';
  readonly code: ErrorCode;
  /** OAuth `error` (RFC 6749 §5.2), for `OAUTH_ERROR`: `invalid_grant`, `access_denied`, ... */
  readonly error?: string;
  readonly errorDescription?: string;
  readonly errorUri?: string;
  /** The HTTP status of the OAuth error response (0 for one carried by the redirect). */
  readonly status?: number;

  constructor(code: ErrorCode, message: string, fields: McpAuthErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    if (fields.oauth) {
      this.error = fields.oauth.error;
      this.errorDescription = fields.oauth.error_description;
      this.errorUri = fields.oauth.error_uri;
      this.status = fields.oauth.status;
    }
  }
}

/** The error a boundary `ErrorJson` describes. */
export function fromWire(error: ErrorJson): McpAuthError {
  return new McpAuthError(error.code, error.message, { oauth: error.oauth });
}

/** What a rejected `fetch` or a failed storage call says, with its cause's message (Node's `fetch failed` hides the reason there). */
export function describe(error: unknown): string {
  const message = (value: unknown): string | undefined => {
    const text = value instanceof Error ? value.message : typeof value === 'string' ? value : undefined;
    return text || undefined;
  };
  const outer = message(error) ?? String(error);
  const cause = error instanceof Error ? message(error.cause) : undefined;
  return cause && cause !== outer ? `${outer} (${cause})` : outer;
}

/** An `McpAuthError` as it is, anything else as `code` with the original as `cause`. */
export function wrap(error: unknown, code: ErrorCode, what: string): McpAuthError {
  if (error instanceof McpAuthError) return error;
  return new McpAuthError(code, `${what}: ${describe(error)}`, { cause: error });
}
