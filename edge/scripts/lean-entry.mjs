// Replaces the Proxy that worker-build wraps the default (fetch) entrypoint in with a subclass
// doing the same panic-recovery steps, without two Proxy objects and an 11-trap handler copy
// built per request (measured: ~18 us of workerd CPU per request, 14 % of a preflight).
//
// What the Proxy does for the entrypoint, and this class keeps: before construction and before
// `fetch`, reinitialise the wasm instance if a previous call hit a RuntimeError; a throw while
// constructing marks the instance broken; a synchronous throw from `fetch` is checked for a
// RuntimeError. (`fetch` is a plain function, so the Proxy never awaited its promise either.)
// The Durable Object classes keep worker-build's Proxy.
//
// Usage: node lean-entry.mjs build/index.js. Fails the build when worker-build's output no
// longer has the expected shape, rather than shipping an unpatched or half-patched entry.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
let js = readFileSync(file, "utf8");
const find = (re, what) => {
  const m = js.match(re);
  if (!m) {
    console.error(`lean-entry: ${what} not found in ${file}; worker-build's output changed`);
    process.exit(1);
  }
  return m;
};
const [, entry] = find(
  /var (\w+)=class extends \w+\{\};\1\.prototype\.fetch=function\(t\)\{return \w+\.call\(this,t,this\.env,this\.ctx\)\};/,
  "the entrypoint class",
);
const [, reinit, state] = find(
  /function (\w+)\(\)\{(\w+)\.criticalError&&\(console\.log\("Reinitializing Wasm application"\)/,
  "the reinitialise function",
);
const [, flag] = find(/function (\w+)\(r\)\{r instanceof WebAssembly\.RuntimeError/, "the error check");
const [, proxied] = find(new RegExp(`(\\w+)=new Proxy\\(${entry},\\w+\\)`), "the entry's Proxy");
const exportRe = new RegExp(`([{,])${proxied} as default\\}`);
find(exportRe, "the default export");
const lean =
  `var __leanEntry=class extends ${entry}{constructor(...a){try{${reinit}();super(...a)}` +
  `catch(e){throw ${state}.criticalError=!0,e}}};` +
  `__leanEntry.prototype.fetch=function(t){${reinit}();try{return ${entry}.prototype.fetch.call(this,t)}` +
  `catch(e){throw ${flag}(e),e}};`;
js = js.replace(exportRe, `$1__leanEntry as default}`);
js = js.replace(/export\{[^}]*__leanEntry as default\}/, (m) => lean + m);
writeFileSync(file, js);
console.log(`lean-entry: default export ${proxied} (Proxy of ${entry}) replaced by __leanEntry`);
