// Generated from mcpauth-core's error::codes::ALL by scripts/gen-types. Do not edit.

/** Every stable `code` of an error, in Rust and TypeScript alike. */
export type ErrorCode =
  /** the server answered with an OAuth error (`error`, `error_description`). */
  | "OAUTH_ERROR"
  /** an endpoint answered with a status the step does not allow. */
  | "UNEXPECTED_STATUS"
  /** an OAuth endpoint answered with a redirect, which is never followed. */
  | "UNEXPECTED_REDIRECT"
  /** a response body exceeded the size cap. */
  | "RESPONSE_TOO_LARGE"
  /** a response body is not a JSON object. */
  | "INVALID_JSON"
  /** a required response field is absent. */
  | "MISSING_FIELD"
  /** a response field has the wrong type or an invalid value. */
  | "INVALID_FIELD"
  /** a response header could not be parsed. */
  | "INVALID_HEADER"
  /** the server is overloaded or down for now (HTTP 503 or 429); try again later. */
  | "TEMPORARILY_UNAVAILABLE"
  /** every candidate URL of a discovery step failed. */
  | "DISCOVERY_FAILED"
  /** an endpoint is plain http and not on a loopback host. */
  | "INSECURE_URL"
  /** authorization server metadata names another issuer than its URL. */
  | "ISSUER_MISMATCH"
  /** protected resource metadata names another resource. */
  | "RESOURCE_MISMATCH"
  /** the authorization server does not advertise PKCE S256. */
  | "PKCE_NOT_SUPPORTED"
  /** the authorization response has no state. */
  | "STATE_MISSING"
  /** the authorization response's state is not the one sent. */
  | "STATE_MISMATCH"
  /** the server advertises RFC 9207 iss but the authorization response lacks it (an error it carried is reported, unverified). */
  | "ISS_MISSING"
  /** the authorization response's iss is not the expected issuer. */
  | "ISS_MISMATCH"
  /** pre-registered client credentials belong to another authorization server. */
  | "CREDENTIALS_FOR_OTHER_ISSUER"
  /** step-up authorization was tried too often for one resource. */
  | "STEP_UP_LIMIT"
  /** a URL given by the caller is not valid for its purpose. */
  | "INVALID_URL"
  /** the authorization server lacks an endpoint the step needs. */
  | "MISSING_ENDPOINT"
  /** no pre-registered client, no CIMD support and no dynamic registration. */
  | "NO_CLIENT_IDENTITY"
  /** client metadata given by the caller cannot be registered or published. */
  | "INVALID_CLIENT_METADATA"
  /** a state machine was driven out of order. */
  | "INVALID_STATE"
  /** a refresh was asked for, but no refresh token is stored. */
  | "NO_REFRESH_TOKEN"
  /** an extra authorization parameter overrides one the core sets, or repeats. */
  | "INVALID_PARAMETER"
  /** an argument passed from JavaScript does not have the documented shape. */
  | "INVALID_ARGUMENT"
  /** the operation needs a redirect URI and none was configured. */
  | "NO_REDIRECT_URI"
  /** a callback arrived, but no pending authorization is stored for it. */
  | "NO_PENDING_AUTHORIZATION"
  /** no usable login for the server: nothing stored, or expired with no way to refresh. */
  | "LOGIN_REQUIRED"
  /** a request was refused with 401 again after a refresh and after a fresh login. */
  | "PERSISTENT_UNAUTHORIZED"
  /** the user or the caller stopped the operation (cancel, AbortSignal, Ctrl-C). */
  | "ABORTED"
  /** a local deadline passed (a request, or the wait for a login); not the server's expired_token. */
  | "TIMEOUT"
  /** the browser blocked the login popup. */
  | "POPUP_BLOCKED"
  /** the user closed the login popup before it finished. */
  | "POPUP_CLOSED"
  /** the loopback listener could not deliver an authorization response. */
  | "CALLBACK"
  /** the fixed loopback port asked for is taken by another program. */
  | "PORT_IN_USE"
  /** a request could not be sent or its response not read (DNS, connect, TLS, CORS, reset). */
  | "TRANSPORT"
  /** the entropy source failed, so no verifier or state could be drawn. */
  | "ENTROPY_UNAVAILABLE"
  /** the token store is unreadable, undecryptable, tampered with, or unavailable. */
  | "STORE"
  /** a stored record is of another format version or shape; log in again. */
  | "STORE_RECORD_UNREADABLE"
  /** the configuration file or a configured value is invalid. */
  | "CONFIG"
  /** a local I/O operation failed. */
  | "IO"
  /** the host has no fetch (or setTimeout) and none was passed. */
  | "HOST_API_MISSING"
  /** a result could not be converted for JavaScript (a number past 2^53). */
  | "CONVERSION_FAILED"
  /** a caller's callback threw; its exception is passed on unchanged. */
  | "THROWN"
  /** a driver found a machine in a state the core promises never to reach. */
  | "INTERNAL"
;
