/** A .wasm import: a module the runtime compiled (wrangler's and Miniflare's CompiledWasm rule). */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
