import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Layers: dependencies point inward, entry points → services → domain parts → base. A folder
 * imports its own layer and the ones below it. The lab is a service that only the drill and the
 * CLI's wiring may import: production code reaches a lab through the interfaces of
 * src/playbook/site.ts, which the CLI fills from the lab. (Static imports only: the rule does not
 * see a dynamic import().)
 */
const ENTRY = ['cli', 'server'];
const SERVICES = [
  'respond',
  'runbooks',
  'watch',
  'posture',
  'rotate',
  'assess',
  'backup',
  'leak',
  'export',
  'status',
  'drill',
  'lab',
];
const DOMAIN = ['playbook', 'audit', 'notify', 'tenants', 'secrets', 'policy'];
const BASE = ['vault', 'store', 'config', 'util', 'logging'];

const folders = (names) => names.map((name) => `src/${name}/**/*.ts`);
const restrict = (...forbidden) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: forbidden.map(([names, message]) => ({
        group: names.map((name) => `**/${name}/**`),
        message,
      })),
    },
  ],
});
const noEntry = [ENTRY, 'the CLI and the server are entry points: nothing imports them.'];
const noLab = [
  ['lab'],
  'only src/lab, src/drill and the CLI import the lab: take what you need through src/playbook/site.ts, which the CLI fills from the lab.',
];
const noService = [
  SERVICES,
  'domain parts and the base layer import no service: move the shared type or function down a layer.',
];
const noDomain = [
  DOMAIN,
  'vault/, store/, config/, util/ and logging/ import no domain part: move the shared type or function down a layer.',
];
const layers = [
  { files: folders(SERVICES.filter((s) => s !== 'lab' && s !== 'drill')), rules: restrict(noEntry, noLab) },
  { files: folders(['lab', 'drill']), rules: restrict(noEntry) },
  { files: folders(DOMAIN), rules: restrict(noEntry, noService) },
  { files: [...folders(BASE), 'src/*.ts'], rules: restrict(noEntry, noService, noDomain) },
].map((layer) => ({ ...layer, ignores: ['**/*.test.ts'] }));

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
  ...layers,
);
