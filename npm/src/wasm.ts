/**
 * Loads and instantiates the WebAssembly core lazily: importing the package reads, fetches and
 * compiles nothing. The first use instantiates it, once; concurrent first uses share that one
 * instantiation ({@link ready} is memoized).
 *
 * - Node, Deno, Bun (the package is on disk: a `file:` URL): the bytes are read and compiled
 *   synchronously (V8 then compiles lazily, function by function, about 15 ms against 30 ms for
 *   the async path on two cores). Where the host has `process.getBuiltinModule` (Node 20.16,
 *   22.3 and later), even a synchronous call of `mcpauth/core` loads the module on the spot, so
 *   nothing needs awaiting first; elsewhere `node:fs/promises` is imported dynamically, its
 *   specifier hidden from bundlers, so a browser build never sees a `node:` module.
 * - Browsers and workers: the module is fetched from `new URL('./wasm/mcpauth_wasm_bg.wasm',
 *   import.meta.url)` (compiled while it downloads when served as `application/wasm`) by
 *   {@link ready}; bundlers that understand `new URL(..., import.meta.url)` (webpack 5, Vite,
 *   Parcel) emit it as an asset. `McpAuth` awaits it in every operation; a driver of its own
 *   awaits `ready()` from `mcpauth/core` before its first synchronous call.
 *
 * @module
 */

import init, { initSync } from './wasm/mcpauth_wasm.js';
import * as glue from './wasm/mcpauth_wasm.js';
import { McpAuthError } from './errors.js';

/** Where the compiled core sits, next to this file in `dist/`. */
const wasmUrl = new URL('./wasm/mcpauth_wasm_bg.wasm', import.meta.url);

/** `node:fs/promises`, named through a variable so bundlers do not try to resolve it. */
const NODE_FS = 'node:fs/promises';

interface NodeFs {
  readFile(path: URL): Promise<Uint8Array>;
}

interface NodeFsSync {
  readFileSync(path: URL): Uint8Array;
}

/** Whether the module is instantiated: checked on every call, so a plain flag. */
let loaded = false;
/** The one instantiation in progress or done. */
let loading: Promise<void> | undefined;

/** Node's synchronous `fs`, where the host hands out built-in modules without an import. */
function syncFs(): NodeFsSync | undefined {
  if (wasmUrl.protocol !== 'file:') return undefined;
  const proc = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  return typeof proc?.getBuiltinModule === 'function' ? (proc.getBuiltinModule('node:fs') as NodeFsSync | undefined) : undefined;
}

/** Instantiates now, synchronously, where the bytes can be read so; `false` elsewhere. */
function loadNow(): boolean {
  const fs = syncFs();
  if (!fs) return false;
  initSync({ module: fs.readFileSync(wasmUrl) });
  loaded = true;
  return true;
}

async function load(): Promise<void> {
  if (loadNow()) return;
  if (wasmUrl.protocol === 'file:') {
    const fs = (await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS)) as NodeFs;
    initSync({ module: await fs.readFile(wasmUrl) });
  } else {
    await init({ module_or_path: wasmUrl });
  }
  loaded = true;
}

/**
 * Resolves once the WebAssembly core is instantiated, instantiating it on the first call; every
 * caller shares that one instantiation. A failed one (a network error) is tried again next time.
 */
export function ready(): Promise<void> {
  if (loaded) return Promise.resolve();
  loading ??= load().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** Whether {@link ready} has resolved: a caller on a hot path checks this instead of awaiting. */
export function isReady(): boolean {
  return loaded;
}

/**
 * The wasm-bindgen exports. Reading one instantiates the module first where that can be done
 * synchronously (Node); elsewhere before {@link ready} it throws `INVALID_STATE`. A plain copy
 * of the glue's namespace behind it, so a test can wrap a function to count the crossings.
 */
export const bindings: typeof glue = new Proxy({ ...glue }, {
  get(target, name, receiver) {
    if (!loaded && !loadNow()) {
      throw new McpAuthError('INVALID_STATE', 'the WebAssembly core is not loaded yet: await ready() from mcpauth/core first');
    }
    return Reflect.get(target, name, receiver) as unknown;
  },
});
