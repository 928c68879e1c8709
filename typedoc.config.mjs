// `npm run docs`: the API reference, generated from the doc comments into
// docs/api (not committed). The guides in docs/*.md come along as documents.
/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  entryPoints: ['src/index.ts', 'src/distributed/index.ts'],
  tsconfig: 'tsconfig.build.json',
  out: 'docs/api',
  name: 'skein',
  readme: 'README.md',
  projectDocuments: ['docs/*.md'],
  excludePrivate: true,
  excludeExternals: true,
  // Public signatures name helper types that are not exported themselves
  // (Handle<T>'s mapped members, option unions such as OffloadStore): the
  // plugin documents them under "<internal>" rather than leaving dead names.
  plugin: ['typedoc-plugin-missing-exports'],
  // Source links would point at whatever remote the checkout has (none, or a
  // local path in a fresh clone): the reference links to no source.
  disableSources: true,
  // A warning is something to fix, not to scroll past.
  treatWarningsAsErrors: true,
};
