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
 * The server listens on 127.0.0.1 only (never on all interfaces), on the port of the
 * registration it reuses (or `port`, or any), answers only `GET` on the callback path, and
 * takes exactly one authorization response: a request without this login's `state` gets an
 * error page and the login goes on; the first one with it ends the login, and the server
 * closes.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { AuthorizationOptions, McpAuth } from './client.js';
import { McpAuthError } from './errors.js';
import type { ListenRequest, MachineControl } from './pump.js';
import type { Grant } from './wire.js';

/** Options of {@link loopbackLogin}. */
export interface LoopbackLoginOptions extends Omit<AuthorizationOptions, 'redirectUri'> {
  /**
   * The port to listen on, and only that one (`PORT_IN_USE` if it is taken). Default: the port
   * of the registration reused, else any free port.
   */
  port?: number;
  /**
   * Opens the authorization URL in the user's browser: `true` uses the platform's opener
   * (`open`, `xdg-open`, `start`), a function does it your way. Default `false`: the URL is only
   * printed.
   */
  openBrowser?: boolean | ((url: string) => void | Promise<void>);
  /** Prints the URL for the user. Default: a line on stderr. Pass `() => {}` to stay quiet. */
  print?: (message: string, url: string) => void;
}

/** The page the browser shows after the redirect back. It carries no token or code. */
function page(ok: boolean, detail: string): string {
  const title = ok ? 'Signed in' : 'Sign-in failed';
  const esc = detail.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
<body style="font-family:system-ui,sans-serif;max-width:32em;margin:4em auto">
<h1>${title}</h1><p>${esc}</p></body>`;
}

const HTML = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' };

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

/** Listens on 127.0.0.1:`port`, or on any port when that one is taken and not required. */
async function bind(server: Server, port: number | null, required: boolean): Promise<number> {
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port ?? 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === null) throw error;
    if (required) throw new McpAuthError('PORT_IN_USE', `127.0.0.1:${port} is in use`, { cause: error });
    await listen(0);
  }
  return (server.address() as AddressInfo).port;
}

/**
 * Logs in to the MCP server at `serverUrl` through the user's browser and a one-shot loopback
 * server, stores the grant in `auth`'s storage and returns it. The redirect URI is
 * `http://127.0.0.1:<port>/callback`.
 *
 * @throws `McpAuthError` with the core's code when the authorization response or the code
 * exchange fails (`OAUTH_ERROR`, `ISS_MISMATCH`, ...), `TIMEOUT` after the login's `timeout`,
 * `ABORTED` when `signal` fires, `PORT_IN_USE` for a fixed port that is taken.
 */
export async function loopbackLogin(auth: McpAuth, serverUrl: string, options: LoopbackLoginOptions = {}): Promise<Grant> {
  const { port, openBrowser = false } = options;
  const print = options.print ?? ((message) => process.stderr.write(`${message}\n`));
  const server = createServer();
  /** The browser's request that carried this login's callback, answered when the login ends. */
  let waiting: ServerResponse | undefined;

  const listen = async ({ port, required, path }: ListenRequest, control: MachineControl): Promise<string> => {
    const bound = await bind(server, port, required);
    const redirectUri = `http://127.0.0.1:${bound}${path}`;
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', redirectUri);
      if (req.method !== 'GET' || url.pathname !== path || waiting) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      // A request without this login's state may come from any page that knows the port.
      if (!control.callback(`${redirectUri}${url.search}`)) {
        res.writeHead(400, HTML).end(page(false, 'This response does not belong to the login in progress; it was ignored.'));
        return;
      }
      waiting = res;
    });
    return redirectUri;
  };

  const onAuthorize = (url: string, control: MachineControl) => {
    print(`Open this URL in your browser to sign in:\n  ${url}`, url);
    if (openBrowser === true) openWithPlatform(url);
    else if (typeof openBrowser === 'function') Promise.resolve(openBrowser(url)).catch((error: unknown) => control.abort(error));
  };

  const answer = (ok: boolean) =>
    new Promise<void>((resolve) => {
      if (!waiting) return resolve();
      const detail = ok ? 'You can close this window and return to the application.' : 'The application reports the reason.';
      waiting.writeHead(ok ? 200 : 400, HTML).end(page(ok, detail), () => resolve());
    });

  try {
    const grant = await auth.login(serverUrl, { ...options, redirect: { kind: 'loopback', port }, listen, onAuthorize });
    await answer(true);
    return grant;
  } catch (error) {
    await answer(false);
    throw error;
  } finally {
    server.closeAllConnections?.();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
