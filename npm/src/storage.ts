/**
 * Where mcpauth keeps what outlives one call. Keys and records are the core's, the same as the
 * native crate's: `grant#<server>` (the one current grant of an MCP server: tokens plus the
 * endpoints to refresh and revoke them), `client#<issuer>#<flow>` (a dynamic registration),
 * `pending#<state>` (a web login waiting for its redirect: the PKCE verifier and `state`), and
 * `discovery#<server>` (what discovery found, kept while the metadata's HTTP caching headers
 * allow). Records are versioned JSON text.
 *
 * Everything stored is as confidential as a token: refresh tokens and client secrets live here.
 *
 * @module
 */

/** A small async key-value store. Implement it over a keychain, a file or a database. */
export interface Storage {
  /** The value stored under `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Stores `value` under `key`, replacing any previous value. */
  set(key: string, value: string): Promise<void>;
  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/**
 * Keeps everything in this process's memory: nothing survives a restart or a page reload.
 * The default storage of {@link McpAuth}; right for tests and short-lived scripts.
 */
export class MemoryStorage implements Storage {
  readonly #entries = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.#entries.get(key);
  }

  async set(key: string, value: string): Promise<void> {
    this.#entries.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  /** How many entries are stored (for tests and diagnostics). */
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The part of the DOM `Storage` interface {@link WebStorage} needs, so that `localStorage`,
 * `sessionStorage` and test doubles all fit.
 */
export interface DomStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * A browser `localStorage` or `sessionStorage` under a key prefix.
 *
 * Use `localStorage` for grants and registrations that should survive the tab, and
 * `sessionStorage` for pending authorizations (pass it as {@link McpAuthOptions.sessionStorage}):
 * they must survive the redirect to the authorization server and back, and nothing longer.
 *
 * @security Anything in web storage is readable by every script on the origin: an XSS bug
 * exposes refresh tokens stored here. Prefer `sessionStorage` (or {@link MemoryStorage}) for
 * grants when the page can afford a new login per tab.
 */
export class WebStorage implements Storage {
  readonly #store: DomStorageLike;
  readonly #prefix: string;

  /**
   * @param store `localStorage`, `sessionStorage` or anything with the same three methods.
   * @param prefix Prepended to every key, so several apps (or several `McpAuth` instances)
   *   can share one origin's storage. Default `"mcpauth:"`.
   */
  constructor(store: DomStorageLike, prefix = 'mcpauth:') {
    this.#store = store;
    this.#prefix = prefix;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#store.getItem(this.#prefix + key) ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    this.#store.setItem(this.#prefix + key, value);
  }

  async delete(key: string): Promise<void> {
    this.#store.removeItem(this.#prefix + key);
  }
}
