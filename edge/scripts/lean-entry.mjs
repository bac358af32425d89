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
// One step more than the Proxy: a panic answers. A Rust panic traps the wasm instance inside a
// microtask, so the pending request's promise never settles and the runtime cancels it ("hung")
// with a bare 500; every other request in flight in the isolate lives in the same dead instance.
// So each request is raced against the instance's death: on a RuntimeError (thrown by `fetch`, or
// seen by the global error listener) every pending request of the isolate is answered at once
// with the edge's own problem document (500, `type` .../internal, `Cache-Control: no-store`, the
// client's well-formed `X-Request-Id` or a new one), and the next request reinitialises the
// instance. `e2e recovery::a_panic_answers_500_and_the_next_request_recovers` proves it.
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
  /var (\w+)=class extends \w+\{\};\1\.prototype\.fetch=function\((\w+)\)\{return \w+\.call\(this,\2,this\.env,this\.ctx\)\};/,
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
// The problem document mirrors wyn_edge_shared::problem (ProblemType::Internal) and
// request_id::is_well_formed.
const panicked =
  `function __leanPanicked(t){let i=t.headers.get("x-request-id");` +
  `if(!i||!/^[A-Za-z0-9._:-]{1,128}$/.test(i))i=crypto.randomUUID();` +
  `return new Response(JSON.stringify({type:"https://wyn.app/problems/internal",` +
  `title:"The edge failed to handle the request",status:500,request_id:i}),{status:500,headers:{` +
  `"content-type":"application/problem+json","cache-control":"no-store",` +
  `"x-content-type-options":"nosniff","x-request-id":i}})}` +
  `var __leanPending=new Set;function __leanDead(){for(const f of __leanPending)f();__leanPending.clear()}` +
  `addEventListener("error",e=>{e.error instanceof WebAssembly.RuntimeError&&__leanDead()});`;
const lean =
  panicked +
  `var __leanEntry=class extends ${entry}{constructor(...a){try{${reinit}();super(...a)}` +
  `catch(e){throw ${state}.criticalError=!0,e}}};` +
  `__leanEntry.prototype.fetch=function(t){${reinit}();let p;try{p=${entry}.prototype.fetch.call(this,t)}` +
  `catch(e){if(${flag}(e),e instanceof WebAssembly.RuntimeError)return __leanDead(),__leanPanicked(t);throw e}` +
  // A request the edge answered synchronously (a preflight, a local 429) has nothing pending.
  `if(!(p instanceof Promise))return p;` +
  // The 500 is built in a continuation of this request: the death is seen in another request's
  // context, and a Response (a stream) made there cannot be sent from here.
  // `d` is settled when the request ends too: a promise left pending per request (and the
  // request context its reaction holds) cost ~20 us of CPU per request in `make bench-ab`.
  `let f,done=!1;const d=new Promise(r=>{f=r}).then(()=>done?void 0:__leanPanicked(t));__leanPending.add(f);` +
  `return Promise.race([p,d]).finally(()=>{__leanPending.delete(f);done=!0;f()})};`;
js = js.replace(exportRe, `$1__leanEntry as default}`);
js = js.replace(/export\{[^}]*__leanEntry as default\}/, (m) => lean + m);
writeFileSync(file, js);
console.log(`lean-entry: default export ${proxied} (Proxy of ${entry}) replaced by __leanEntry`);
