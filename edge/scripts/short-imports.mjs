// Shortens the wasm's import names, and the keys of the import object in the JS glue with them.
//
// wasm-bindgen names each import `__wbg_<name>_<16 hex digits>` in the module "./index_bg.js":
// some 150 names of 30 to 60 bytes, whose hashes gzip cannot squeeze. wasm-opt's
// `--minify-imports` renames only the imports of Emscripten's modules, so this does it: modules
// become letters, and so do the names of "./index_bg.js" (a snippet's imports keep their names,
// its module's exports), in the import section and in the one object literal of the glue that
// supplies them. Any key not found exactly once there stops the build.
//
// Usage: node short-imports.mjs index.js index_bg.wasm
import { readFileSync, writeFileSync } from "node:fs";

const [jsFile, wasmFile] = process.argv.slice(2);
const fail = (why) => {
  console.error(`short-imports: ${why}`);
  process.exit(1);
};
const wasm = readFileSync(wasmFile);
let js = readFileSync(jsFile, "utf8");

const MODULE = "./index_bg.js";
let at = 0;
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = wasm[at++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return result;
  }
};
const encodeLeb = (n) => {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
};
const encodeName = (s) => {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([encodeLeb(bytes.length), bytes]);
};
const readName = () => {
  const len = leb();
  const s = wasm.toString("utf8", at, at + len);
  at += len;
  return s;
};
const skipLimits = () => {
  const flags = wasm[at++];
  leb();
  if (flags & 1) leb();
};

// The n-th short name: a..z, A..Z, then two letters and on.
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const shortName = (n) => {
  let s = "";
  do {
    s = LETTERS[n % 52] + s;
    n = Math.floor(n / 52) - 1;
  } while (n >= 0);
  return s;
};

if (wasm.readUInt32LE(0) !== 0x6d736100) fail(`${wasmFile} is not a wasm module`);
at = 8;
const parts = [wasm.subarray(0, 8)];
let renamed = 0;
const modules = new Map();
while (at < wasm.length) {
  const start = at;
  const id = wasm[at++];
  const size = leb();
  const body = at;
  const end = body + size;
  if (id !== 2) {
    parts.push(wasm.subarray(start, end));
    at = end;
    continue;
  }
  const count = leb();
  const entries = [encodeLeb(count)];
  for (let i = 0; i < count; i++) {
    const module = readName();
    const field = readName();
    const descStart = at;
    const kind = wasm[at++];
    if (kind === 0) leb();
    else if (kind === 1) {
      at++;
      skipLimits();
    } else if (kind === 2) skipLimits();
    else if (kind === 3) at += 2;
    else if (kind === 4) {
      at++;
      leb();
    } else fail(`import ${module}.${field} has an unknown kind ${kind}`);
    if (!modules.has(module)) modules.set(module, shortName(modules.size));
    if (module !== MODULE) {
      // A snippet's imports are its module's own export names: only the module is renamed.
      entries.push(encodeName(modules.get(module)), encodeName(field), wasm.subarray(descStart, at));
      continue;
    }
    const short = shortName(renamed++);
    const key = new RegExp(`([{,])${field}:`, "g");
    const found = js.match(key)?.length ?? 0;
    if (found !== 1) fail(`the glue has ${found} import keys ${field}, not 1`);
    js = js.replace(key, `$1${short}:`);
    entries.push(encodeName(modules.get(module)), encodeName(short), wasm.subarray(descStart, at));
  }
  if (at !== end) fail("the import section did not parse to its end");
  const payload = Buffer.concat(entries);
  parts.push(Buffer.from([2]), encodeLeb(payload.length), payload);
}
for (const [module, short] of modules) {
  const key = `"${module}":`;
  if (js.split(key).length !== 2) fail(`the glue has no single ${key} key`);
  js = js.replace(key, `${short}:`);
}
writeFileSync(wasmFile, Buffer.concat(parts));
writeFileSync(jsFile, js);
console.log(`short-imports: ${renamed} imports renamed`);
