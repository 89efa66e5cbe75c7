// ESLint (flat config): typescript-eslint's recommended rules everywhere, its type-aware promise
// rules where the extension host and the runner await things, and no dynamic code anywhere
// (model files are data: nothing read from them is ever executed).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '.stryker-tmp/**',
      'reports/**',
      'dist/**',
      'dist-test/**',
      'dist-bench/**',
      'bench/tmp/**',
      'node_modules/**',
      'src/core/wasm-binaries.generated.ts',
      'assembly/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  // docs/architecture.md's import rules, checked here
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['vscode', 'node:*', 'fs', 'path', 'os', 'worker_threads', 'child_process'],
              message: 'src/core imports no host API (vscode, Node): inject what it needs.',
            },
            { regex: '^\\.\\./(?!protocol/)', message: 'src/core imports only itself and src/protocol.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        'window',
        'document',
        'process',
        'require',
        'Buffer',
        'setTimeout',
        'performance',
      ],
    },
  },
  {
    files: ['src/extension/**/*.ts', 'src/logs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '/core/(?!(detectors|stream-detectors|warnings)$)',
              message:
                'The extension host never runs the training math: runs and analyses are workers (only the detectors, pure functions of events, are imported).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/extension/**/*.ts', 'src/runner/**/*.ts', 'src/logs/**/*.ts', 'src/cli/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-implied-eval': 'error',
    },
  },
);
