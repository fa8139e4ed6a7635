/**
 * Browser logins: a full-page redirect to the authorization server and back, or a popup that
 * hands the authorization response to the page that opened it.
 *
 * In both, the core checks `state` and `iss` and exchanges the code. The redirect login saves
 * itself (PKCE verifier and `state`) in {@link McpAuthOptions.sessionStorage} until the
 * redirect URI's page resumes it with {@link McpAuth.handleCallback}, so use a
 * `WebStorage(sessionStorage)` there: the page is unloaded while the user signs in. The popup
 * login stays in memory on the opener's page, which the popup hands the response to.
 *
 * @module
 */

import type { AuthorizationOptions, McpAuth } from './client.js';
import { McpAuthError } from './errors.js';
import type { MachineControl } from './pump.js';
import type { Grant } from './wire.js';

/** The `type` of the message a callback page posts to its opener. */
const MESSAGE_TYPE = 'mcpauth:callback';

interface CallbackMessage {
  type: typeof MESSAGE_TYPE;
  url: string;
}

function isCallbackMessage(data: unknown): data is CallbackMessage {
  return (
    typeof data === 'object' &&
    data !== null &&
    (data as CallbackMessage).type === MESSAGE_TYPE &&
    typeof (data as CallbackMessage).url === 'string'
  );
}

/**
 * Sends the browser to the authorization server. The promise resolves once navigation has been
 * requested; the page then unloads. On the redirect URI's page, call
 * {@link completeRedirectLogin}.
 */
export async function redirectLogin(
  auth: McpAuth,
  serverUrl: string,
  options: AuthorizationOptions = {},
): Promise<void> {
  const { url } = await auth.authorizationUrl(serverUrl, options);
  window.location.assign(url);
}

/** Options of {@link completeRedirectLogin}. */
export interface CompleteRedirectOptions {
  /**
   * Removes the authorization response (`code`, `state`, `iss`) from the address bar and the
   * session history with `history.replaceState`. Default `true`.
   */
  cleanUrl?: boolean;
}

/**
 * Completes a redirect login on the redirect URI's page: validates the authorization response
 * in `href` against the pending authorization and exchanges the code. Returns the stored grant.
 *
 * @throws `McpAuthError` from the core (`ISS_MISMATCH`, `OAUTH_ERROR` for a refused
 * authorization, ...), or `NO_PENDING_AUTHORIZATION` when no login waits for this response.
 */
export async function completeRedirectLogin(
  auth: McpAuth,
  href: string = window.location.href,
  options: CompleteRedirectOptions = {},
): Promise<Grant> {
  const cleanUrl = options.cleanUrl ?? true;
  try {
    return await auth.handleCallback(href);
  } finally {
    if (cleanUrl && typeof history !== 'undefined' && href === window.location.href) {
      const clean = new URL(href);
      clean.search = '';
      history.replaceState(history.state, '', clean.href);
    }
  }
}

/** Options of {@link popupLogin}. */
export interface PopupLoginOptions extends AuthorizationOptions {
  /** `window.open` features. Default: a 500×650 window. */
  features?: string;
  /** How often to check whether the user closed the popup. Default 500 ms. */
  closedPollMs?: number;
}

/**
 * Logs in through a popup window and returns the stored grant; the page stays where it is.
 *
 * Call it directly from a click handler: the popup is opened before the first `await`, inside
 * the user gesture, so popup blockers let it through; it shows `about:blank` until the
 * authorization URL is ready. The redirect URI's page must call {@link postCallbackToOpener}.
 *
 * The response is accepted only from the popup this call opened (`event.source`) and only from
 * the redirect URI's origin (`event.origin`).
 *
 * @throws `POPUP_BLOCKED`, `POPUP_CLOSED` (the user closed it), `TIMEOUT`, `ABORTED`, or the
 * core's errors for the authorization response and the code exchange.
 */
export function popupLogin(auth: McpAuth, serverUrl: string, options: PopupLoginOptions = {}): Promise<Grant> {
  const { features = 'popup,width=500,height=650', closedPollMs = 500 } = options;
  const redirectUri = options.redirectUri ?? auth.redirectUri;
  if (!redirectUri) return Promise.reject(new McpAuthError('NO_REDIRECT_URI', 'popupLogin needs a redirectUri'));
  let expectedOrigin: string;
  try {
    expectedOrigin = new URL(redirectUri).origin;
  } catch {
    return Promise.reject(new McpAuthError('NO_REDIRECT_URI', `the redirect URI is not an absolute URL: ${redirectUri}`));
  }
  // Synchronously, before any await: this is what keeps the popup inside the user gesture.
  const popup = window.open('about:blank', '_blank', features);
  if (!popup) return Promise.reject(new McpAuthError('POPUP_BLOCKED', 'the browser blocked the login popup'));

  // Closing the popup, or the caller's signal, cancels the login (which forgets its pending state).
  const cancel = new AbortController();
  const onAbort = () => cancel.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // The callback page posts the redirect and then closes itself, so a closed popup means the
  // user closed it only while no callback has come. The poll stops at this login's callback
  // (one with another login's state leaves it running), and it needs two closed ticks in a
  // row, which leaves a message posted just before the close time to arrive on a busy machine.
  let closedTicks = 0;
  const closedTimer = setInterval(() => {
    closedTicks = popup.closed ? closedTicks + 1 : 0;
    if (closedTicks >= 2) cancel.abort(new McpAuthError('POPUP_CLOSED', 'the login popup was closed'));
  }, closedPollMs);
  let onMessage: ((event: MessageEvent) => void) | undefined;

  const onAuthorize = (url: string, control: MachineControl) => {
    onMessage = (event: MessageEvent) => {
      if (event.source !== popup || event.origin !== expectedOrigin || !isCallbackMessage(event.data)) return;
      if (control.callback(event.data.url)) clearInterval(closedTimer);
    };
    window.addEventListener('message', onMessage);
    popup.location.href = url;
  };

  return auth.login(serverUrl, { ...options, redirectUri, signal: cancel.signal, onAuthorize }).finally(() => {
    if (onMessage) window.removeEventListener('message', onMessage);
    clearInterval(closedTimer);
    options.signal?.removeEventListener('abort', onAbort);
    if (!popup.closed) popup.close();
  });
}

/** Options of {@link postCallbackToOpener}. */
export interface PostCallbackOptions {
  /**
   * The origin the opener must have; the browser drops the message otherwise, so the
   * authorization response never reaches a page that opened the callback URL itself.
   * Default: this page's origin (the app's pages and its redirect URI share one origin).
   */
  targetOrigin?: string;
  /** Closes this window after posting. Default `true`. */
  close?: boolean;
}

/**
 * On the redirect URI's page inside a login popup: posts the authorization response to the
 * opener ({@link popupLogin}) and closes the popup. Returns `false`, doing nothing, when the
 * page has no opener (it was reached by a full-page redirect: call
 * {@link completeRedirectLogin} instead).
 *
 * The page itself does not exchange the code or touch storage.
 */
export function postCallbackToOpener(options: PostCallbackOptions = {}): boolean {
  const opener = window.opener as Window | null;
  if (!opener || opener === window) return false;
  const message: CallbackMessage = { type: MESSAGE_TYPE, url: window.location.href };
  opener.postMessage(message, options.targetOrigin ?? window.location.origin);
  if (options.close ?? true) window.close();
  return true;
}
