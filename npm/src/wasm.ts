/**
 * Loads and instantiates the WebAssembly core, once, when this module is first imported (top-level
 * await), so every other module can call into it synchronously.
 *
 * - Node, Deno, Bun (the package is on disk: a `file:` URL): the bytes are read with
 *   `node:fs/promises` and compiled synchronously (lazily, function by function). The import is dynamic and its specifier hidden from bundlers, so a
 *   browser build never sees a `node:` module.
 * - Browsers and workers: the module is fetched from `new URL('./wasm/mcpauth_wasm_bg.wasm',
 *   import.meta.url)` (compiled while it downloads when served as `application/wasm`); bundlers
 *   that understand `new URL(..., import.meta.url)` (webpack 5, Vite, Parcel) emit it as an asset.
 *
 * @module
 */

import init, { initSync } from './wasm/mcpauth_wasm.js';
import * as glue from './wasm/mcpauth_wasm.js';

/** Where the compiled core sits, next to this file in `dist/`. */
const wasmUrl = new URL('./wasm/mcpauth_wasm_bg.wasm', import.meta.url);

/** `node:fs/promises`, named through a variable so bundlers do not try to resolve it. */
const NODE_FS = 'node:fs/promises';

interface NodeFs {
  readFile(path: URL): Promise<Uint8Array>;
}

async function load(): Promise<void> {
  if (wasmUrl.protocol === 'file:') {
    const fs = (await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS)) as NodeFs;
    // Synchronous compile on purpose: V8 compiles lazily then, where the async path compiles
    // every function up front (about 15 ms against 30 ms for a cold import on two cores).
    initSync({ module: await fs.readFile(wasmUrl) });
  } else {
    await init({ module_or_path: wasmUrl });
  }
}

await load();

/**
 * The wasm-bindgen exports, initialized. Importing this binding (rather than importing the module
 * for its side effect) keeps the loader in bundles of this `sideEffects: false` package.
 */
export const bindings: typeof glue = glue;
