#!/usr/bin/env bash
# Builds the npm package into npm/dist/:
#   1. the wasm binding (wasm/) for wasm32 in release (opt-level z, LTO, one codegen unit,
#      panic=abort: the workspace profile),
#   2. wasm-bindgen --target web into dist/wasm/ (ES module glue; the loader in src/wasm.ts
#      passes the .wasm bytes or URL itself, hence --omit-default-module-path),
#   3. wasm-opt -Oz (binaryen), and the JSDoc blocks dropped from the glue (the .d.ts keeps them),
#   4. tsc: src/*.ts to ESM .js + .d.ts in dist/ (TypeScript pinned by package-lock.json,
#      installed into npm/node_modules when the lock changes),
#   5. the CommonJS build in dist/cjs/ for `require` (package.json's `require` conditions): each
#      ES module of dist/ converted by esbuild (pinned likewise), except wasm.js, whose top-level
#      await `require` cannot wait for: cjs/wasm.js replaces it and reads the .wasm from
#      dist/wasm/ synchronously. The .d.ts files are copied next to them, so that TypeScript
#      reads them as CommonJS declarations there.
# Prints the sizes. Needs what scripts/setup installs; runs it when .tools/ is missing.
set -euo pipefail

npm_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$npm_dir")"
cd "$root"

[[ -f .tools/env.sh ]] || scripts/setup
# shellcheck source=/dev/null
source .tools/env.sh

# strip=false: stripping drops the target_features section that wasm-bindgen and wasm-opt
# read; wasm-opt removes names and debug info itself.
CARGO_PROFILE_RELEASE_STRIP=false wasm_cargo build -p mcpauth-wasm --release
module="${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/release/mcpauth_wasm.wasm"

dist="$npm_dir/dist"
rm -rf "$dist"
mkdir -p "$dist/wasm"
wasm-bindgen --target web --omit-default-module-path --out-dir "$dist/wasm" "$module"
bg="$dist/wasm/mcpauth_wasm_bg.wasm"
size() { printf '%-32s %8s bytes, %7s gzip -9\n' "$1" "$(wc -c <"$2")" "$(gzip -9 -c "$2" | wc -c)"; }
size "wasm after wasm-bindgen" "$bg"
wasm-opt -Oz "$bg" -o "$bg"
size "wasm after wasm-opt -Oz" "$bg"
# The glue repeats every doc comment of the Rust exports as JSDoc; the .d.ts keeps them for
# editors, the shipped JS does not need them (a third of its bytes).
glue="$dist/wasm/mcpauth_wasm.js"
size "JS glue from wasm-bindgen" "$glue"
sed -i '/^[[:space:]]*\/\*\*$/,/^[[:space:]]*\*\/$/d' "$glue"
size "JS glue without JSDoc" "$glue"

cd "$npm_dir"
stamp=node_modules/.mcpauth-installed-lock.json
if ! cmp -s package-lock.json "$stamp"; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi
node_modules/.bin/tsc -p tsconfig.json

cjs="$dist/cjs"
mapfile -t modules < <(find "$dist" -name '*.js' ! -path "$dist/wasm.js" ! -path "$dist/cjs/*" | sort)
node_modules/.bin/esbuild "${modules[@]}" --format=cjs --platform=node --target=node18 \
    --outbase="$dist" --outdir="$cjs" --log-level=warning
cp cjs/wasm.js "$cjs/wasm.js"
(cd "$dist" && find . -name '*.d.ts' ! -path './cjs/*' -exec cp --parents {} cjs/ \;)
echo '{"type":"commonjs"}' >"$cjs/package.json"
echo "built $(find "$dist" -type f | wc -l) files into npm/dist"
