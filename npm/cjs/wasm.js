'use strict';
/**
 * The CommonJS twin of src/wasm.ts, which build.sh puts at dist/cjs/wasm.js in place of the ES
 * module's: `require` cannot wait for a top-level await, so the core is read from disk and
 * instantiated synchronously when first required. The rest of dist/cjs/ is the ES modules of
 * dist/ converted one to one (the wasm-bindgen glue included), so every entry shares this one
 * instance.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const glue = require('./wasm/mcpauth_wasm.js');

glue.initSync({ module: readFileSync(join(__dirname, '../wasm/mcpauth_wasm_bg.wasm')) });

/** The wasm-bindgen exports, initialized (the same binding as the ES module's). */
exports.bindings = glue;
