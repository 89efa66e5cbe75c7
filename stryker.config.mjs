// Mutation testing (StrykerJS): `npm run mutate`. Not in CI (too slow for two cores); incremental,
// so a second run re-tests only mutants whose code or tests changed. The per-file scores and the
// surviving mutants are written up in docs/mutation.md.
export default {
  testRunner: 'tap',
  tap: {
    // the in-process tests of the math and the readers (the ones that spawn the built CLI or worker
    // test dist/, which mutants do not reach)
    testFiles: [
      'test/core/{rng-stats,optim-clip,init,trainer,gradients,pinned-behaviours,mean-field,kernels,split-governor,activations,losses-stats,gaussian,detectors,detectors-sharpness,stream-detectors,histogram,sharpness,analyze,held-out,layer-stats}.test.ts',
      'test/modelfile/{readers,locate,csv,jsonc}.test.ts',
      'test/logs/follow.test.ts',
      'test/extension/warning-text.test.ts',
      'test/fuzz/readers.fuzz.test.ts',
    ],
    nodeArgs: ['--import', 'tsx'],
  },
  mutate: [
    'src/core/*.ts',
    '!src/core/wasm-kernels.ts',
    '!src/core/wasm-binaries.generated.ts',
    '!src/core/parallel.ts',
    '!src/core/split-protocol.ts',
    '!src/core/split-helper.ts',
    '!src/core/chunks.ts',
    'src/modelfile/*.ts',
    '!src/modelfile/load.ts',
  ],
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: 'reports/mutation.json' },
  concurrency: 2,
  timeoutMS: 20000,
  ignorePatterns: ['dist-bench', 'test-results', 'media', 'python', 'bench', '*.vsix'],
};
