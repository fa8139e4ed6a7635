// Cold import + instantiate time of the built package in Node: 20 fresh `node -e` processes each
// time `await import('<entry>')` (module graph, reading the .wasm from disk, compiling and
// instantiating it) and print their median in milliseconds.
//
//   node npm/bench/import.mjs [entry=index.js] [runs=20]
//
// Run after npm/build.sh. The first run warms the OS file cache and is not counted.

import { execFileSync } from 'node:child_process';

const entry = new URL(`../dist/${process.argv[2] ?? 'index.js'}`, import.meta.url).href;
const runs = Number(process.argv[3] ?? 20);
const script = `
  const t0 = performance.now();
  await import(${JSON.stringify(entry)});
  process.stdout.write(String(performance.now() - t0));
`;
const once = () => Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));

once();
const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
const median = runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
console.log(
  `${process.version} ${entry.split('/dist/')[1]}: median ${median.toFixed(1)} ms over ${runs} runs ` +
    `(min ${times[0].toFixed(1)}, max ${times[runs - 1].toFixed(1)})`,
);
