// One function per way of shipping the app in app/: each builds (or, for the plain page, copies)
// it into `out` with the tool's defaults plus what its documentation asks for a `.wasm` asset,
// so that serving `out` as static files at an origin's root runs the app. `mcpauth` resolves
// through node_modules/mcpauth, a link to npm/ (as `npm link` would make), to the built package.

import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const app = join(here, 'app');
const entry = join(app, 'main.js');
const pkg = join(here, 'node_modules/mcpauth');

function fresh(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
}

/** Vite: the app's index.html is the entry, as in any Vite project. */
async function vite(out) {
  const { build } = await import('vite');
  await build({ root: app, configFile: false, logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
}

/** webpack 5 in production mode; `new URL('./x.wasm', import.meta.url)` becomes an asset. */
async function webpack(out) {
  fresh(out);
  const { default: webpack } = await import('webpack');
  const compiler = webpack({ mode: 'production', context: here, entry, output: { path: out, filename: 'main.js' } });
  const stats = await new Promise((ok, fail) => compiler.run((error, result) => (error ? fail(error) : ok(result))));
  await new Promise((ok) => compiler.close(ok));
  if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
  cpSync(join(app, 'index.html'), join(out, 'index.html'));
}

/**
 * esbuild bundles and minifies; it leaves `new URL(..., import.meta.url)` alone, so the .wasm
 * is copied to where that URL points from the bundle (as esbuild's documentation suggests for
 * assets it does not reference).
 */
async function esbuild(out) {
  fresh(out);
  const { build } = await import('esbuild');
  await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', outfile: join(out, 'main.js'), logLevel: 'warning' });
  cpSync(join(pkg, 'dist/wasm/mcpauth_wasm_bg.wasm'), join(out, 'wasm/mcpauth_wasm_bg.wasm'));
  cpSync(join(app, 'index.html'), join(out, 'index.html'));
}

/**
 * Rollup with the two plugins a browser app needs here: node-resolve (bare `mcpauth`) and
 * import-meta-assets (`new URL('./x.wasm', import.meta.url)` emitted as an asset). Rollup has
 * no minifier of its own, so its output is not minified.
 */
async function rollup(out) {
  fresh(out);
  const { rollup } = await import('rollup');
  const { nodeResolve } = await import('@rollup/plugin-node-resolve');
  const { importMetaAssets } = await import('@web/rollup-plugin-import-meta-assets');
  const bundle = await rollup({ input: entry, plugins: [nodeResolve({ browser: true }), importMetaAssets()] });
  await bundle.write({ dir: out, format: 'es' });
  await bundle.close();
  cpSync(join(app, 'index.html'), join(out, 'index.html'));
}

/**
 * No bundler: the browser imports the package's dist/ files as they ship, `mcpauth` mapped to
 * them by an import map.
 */
async function plain(out) {
  fresh(out);
  const dist = join(pkg, 'dist');
  const forBrowsers = (f) => !f.endsWith('.d.ts') && f !== join(dist, 'cjs');
  cpSync(dist, join(out, 'pkg'), { recursive: true, filter: forBrowsers });
  cpSync(entry, join(out, 'main.js'));
  const importMap = '<script type="importmap">{ "imports": { "mcpauth": "/pkg/index.js" } }</script>\n  ';
  const html = readFileSync(join(app, 'index.html'), 'utf8').replace('<script type="module"', `${importMap}<script type="module"`);
  writeFileSync(join(out, 'index.html'), html);
}

/** Every way, by name, in the order the test runs them. */
export const builds = { vite, webpack, esbuild, rollup, plain };
