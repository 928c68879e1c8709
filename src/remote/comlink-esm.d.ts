// comlink's ES module build, which loads several times faster than the UMD
// build its package `main` points Node to (no CommonJS loader on a worker's
// start-up path). It has the same API; its types are the package's.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}
