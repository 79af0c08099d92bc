import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.sealwatch/', 'coverage/'] },
  js.configs.recommended,
  // Type-aware: floating and misused promises, unsafe `any`, needless assertions.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
        },
      ],
      // Plugin interfaces (rotators, steps, runbooks, repositories) return promises; an
      // implementation with nothing to wait for is still async, and that is not a bug.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'error',
    },
  },
  {
    // vitest's asymmetric matchers (expect.any, expect.objectContaining, …) are typed `any` by design.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off', '@typescript-eslint/no-unsafe-return': 'off' },
  },
  {
    // Plain JavaScript (scripts, fixtures, this file) is not in the TypeScript project.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The CLI entry is the one place that writes to the terminal directly.
    files: ['src/cli/main.ts', 'src/cli/output.ts', 'bench/**/*.ts', 'scripts/**/*.js', 'scripts/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
);
