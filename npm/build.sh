#!/usr/bin/env bash
# Builds the npm package into npm/dist/:
#   1. the wasm binding (wasm/) for wasm32 in release (opt-level z, LTO, one codegen unit:
#      its workspace's profile), with std built for it and panics as a bare trap,
#   2. wasm-bindgen --target web into dist/wasm/ (ES module glue; the loader in src/wasm.ts
#      passes the .wasm bytes or URL itself, hence --omit-default-module-path),
#   3. wasm-opt -Oz (binaryen, tool sections stripped), and the JSDoc blocks dropped from the glue (the .d.ts keeps them),
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
# The binding is a workspace of its own (wasm/Cargo.toml says why), built into the root's
# target directory.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# The shipped module gets a std compiled for it (-Zbuild-std: the Debian route's wasm_cargo
# always passes it, the rustup route needs the rust-src component that scripts/setup adds),
# with panics compiled to a bare trap (-Cpanic=immediate-abort) and std's size-over-speed
# choices (optimize_for_size). On wasm32-unknown-unknown a panic message reaches no one (std
# has no stderr there), so nothing observable is lost, and the panic machinery with the
# formatting it pulls in goes: 18 KB gzip -9 of the module (wasm/README.md, Size). Nor does
# a panic's source location (-Zlocation-detail=none): the file paths of the build machine
# leave the module.
# RUSTC_BOOTSTRAP unlocks these flags on a stable compiler, as for the fuzz build; the
# binding's tests (wasm-bindgen-test) build as usual and keep their panic messages.
ship_flags=(--manifest-path wasm/Cargo.toml --release -Zbuild-std-features=optimize_for_size)
if [[ $MCPAUTH_WASM_ROUTE == rustup ]]; then
    ship_flags+=(-Zbuild-std=std,panic_abort)
fi
CARGO_PROFILE_RELEASE_STRIP=false RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="${RUSTFLAGS:-} -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none" \
    wasm_cargo build "${ship_flags[@]}"
module="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/mcpauth_wasm.wasm"

dist="$npm_dir/dist"
rm -rf "$dist"
mkdir -p "$dist/wasm"
wasm-bindgen --target web --omit-default-module-path --out-dir "$dist/wasm" "$module"
bg="$dist/wasm/mcpauth_wasm_bg.wasm"
size() { printf '%-32s %8s bytes, %7s gzip -9\n' "$1" "$(wc -c <"$2")" "$(gzip -9 -c "$2" | wc -c)"; }
size "wasm after wasm-bindgen" "$bg"
# The producers and target_features sections are for tools, not engines. Other passes were
# measured and left out (wasm/README.md, Size): -O4 -Oz, --gufa -Oz and -Oz twice came out
# larger, --converge saved 0.1% for half again the time.
wasm-opt -Oz --strip-debug --strip-producers --strip-target-features "$bg" -o "$bg"
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
