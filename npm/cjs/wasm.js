'use strict';
/**
 * The CommonJS twin of src/wasm.ts, which build.sh puts at dist/cjs/wasm.js in place of the ES
 * module's. Lazy as that one: requiring the package reads and compiles nothing; the first use
 * reads the core from disk and instantiates it synchronously, once. The rest of dist/cjs/ is
 * the ES modules of dist/ converted one to one (the wasm-bindgen glue included), so every entry
 * shares this one instance.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const glue = require('./wasm/mcpauth_wasm.js');

let loaded = false;

/** Instantiates the core now, unless it is already. */
function load() {
  if (loaded) return;
  glue.initSync({ module: readFileSync(join(__dirname, '../wasm/mcpauth_wasm_bg.wasm')) });
  loaded = true;
}

/** Resolves once the core is instantiated (here at once: it is read synchronously). */
exports.ready = () => {
  try {
    load();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
};

/** Whether the core is instantiated. */
exports.isReady = () => loaded;

/** The wasm-bindgen exports; reading one instantiates the core first. */
exports.bindings = new Proxy(
  { ...glue },
  {
    get(target, name, receiver) {
      load();
      return Reflect.get(target, name, receiver);
    },
  },
);
