/**
 * `mcpauth/node`: the login of a command-line tool, with the authorization response caught on a
 * loopback HTTP server (RFC 8252 §7.3).
 *
 * ```ts
 * import { McpAuth } from "mcpauth";
 * import { loopbackLogin } from "mcpauth/node";
 *
 * const auth = new McpAuth({ clientName: "my-cli", storage: myKeychainStorage });
 * await loopbackLogin(auth, "https://mcp.example.com/mcp", { openBrowser: true });
 * const token = await auth.accessToken("https://mcp.example.com/mcp");
 * ```
 *
 * The server listens on 127.0.0.1 only (never on all interfaces), on a random port unless one is
 * given, answers only `GET <path>`, and takes exactly one authorization response: the first
 * request on the callback path ends the login, successfully or not, and closes the server.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';

import type { AuthorizationOptions, McpAuth } from './client.js';
import type { Grant } from './core.js';
import { localError } from './errors.js';

/** Options of {@link loopbackLogin}. */
export interface LoopbackLoginOptions extends Omit<AuthorizationOptions, 'redirectUri'> {
  /**
   * The port to listen on. Default 0: a random free port. Give a fixed port when the
   * authorization server compares redirect URIs exactly and the client was registered with one.
   */
  port?: number;
  /** The callback path. Default `"/callback"`. */
  path?: string;
  /**
   * Opens the authorization URL in the user's browser: `true` uses the platform's opener
   * (`open`, `xdg-open`, `start`), a function does it your way. Default `false`: the URL is only
   * printed.
   */
  openBrowser?: boolean | ((url: string) => void | Promise<void>);
  /**
   * Prints the URL for the user. Default: a line on stderr. Pass `() => {}` to stay quiet.
   */
  print?: (message: string, url: string) => void;
  /** Gives up after this long. Default 300 000 ms (five minutes). */
  timeoutMs?: number;
  /** Cancels the login (the server closes, the promise rejects with code `ABORTED`). */
  signal?: AbortSignal;
}

/** The page the browser shows after the redirect back. It carries no token or code. */
function page(ok: boolean, detail: string): string {
  const title = ok ? 'Signed in' : 'Sign-in failed';
  const esc = detail.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
<body style="font-family:system-ui,sans-serif;max-width:32em;margin:4em auto">
<h1>${title}</h1><p>${esc}</p></body>`;
}

/** Starts the platform's URL opener, detached, ignoring its output. */
function openWithPlatform(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]]
        : ['xdg-open', [url]];
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  child.on('error', () => {}); // no opener installed: the printed URL is the fallback
  child.unref();
}

/**
 * Logs in to the MCP server at `serverUrl` through the user's browser and a one-shot loopback
 * server, stores the grant in `auth`'s storage and returns it.
 *
 * The redirect URI is `http://127.0.0.1:<port><path>`; it is registered with the authorization
 * server when dynamic registration is used (a new random port means a new registration at
 * servers that compare redirect URIs exactly).
 *
 * @throws `McpAuthError` with the core's code when the authorization response or the code
 * exchange fails (`STATE_MISMATCH`, `ISS_MISMATCH`, `OAUTH_ERROR`, ...), `LOGIN_TIMEOUT` after
 * `timeoutMs`, `ABORTED` when `signal` fires.
 */
export async function loopbackLogin(
  auth: McpAuth,
  serverUrl: string,
  options: LoopbackLoginOptions = {},
): Promise<Grant> {
  const { port = 0, path = '/callback', openBrowser = false, timeoutMs = 300_000, signal } = options;
  const print = options.print ?? ((message) => process.stderr.write(`${message}\n`));
  signal?.throwIfAborted();

  let settle!: { resolve: (grant: Grant) => void; reject: (err: unknown) => void };
  const done = new Promise<Grant>((resolve, reject) => (settle = { resolve, reject }));
  // The outcome may arrive while `openBrowser` is still running; it is awaited below.
  done.catch(() => {});
  let answered = false;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== path || answered) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const callback = `${redirectUri}${url.search}`;
    void (async () => {
      // A request without this login's state may come from any page that knows the port: it
      // gets an error page and the wait goes on.
      const ours = state !== undefined && (await auth.callbackBelongs(callback, state).catch(() => false));
      if (!ours || answered) {
        res.writeHead(400, headers).end(page(false, 'This response does not belong to the login in progress; it was ignored.'));
        return;
      }
      answered = true; // one result: whatever this login's callback carries ends the login
      handle(callback, res);
    })();
  });
  const handle = (callback: string, res: ServerResponse) =>
    auth.handleCallback(callback).then(
      (grant) => {
        // Settled once the page is flushed: closing the server earlier could cut it off.
        res.writeHead(200, headers).end(page(true, 'You can close this window and return to the application.'), () =>
          settle.resolve(grant),
        );
      },
      (err: unknown) => {
        res.writeHead(400, headers).end(page(false, 'The application reports the reason.'), () => settle.reject(err));
      },
    );
  const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const redirectUri = `http://127.0.0.1:${bound}${path}`;

  const timer = setTimeout(
    () => settle.reject(localError('LOGIN_TIMEOUT', `no authorization response within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onAbort = () => settle.reject(localError('ABORTED', 'login aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });

  let state: string | undefined;
  try {
    const start = await auth.authorizationUrl(serverUrl, { ...options, redirectUri });
    state = start.state;
    print(`Open this URL in your browser to sign in:\n  ${start.url}`, start.url);
    if (openBrowser === true) openWithPlatform(start.url);
    else if (typeof openBrowser === 'function') await openBrowser(start.url);
    return await done;
  } catch (err) {
    // Timed out, aborted or failed before any callback: nothing will use the pending login.
    if (state !== undefined && !answered) await auth.cancelAuthorization(state);
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
