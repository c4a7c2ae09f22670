import tseslint from 'typescript-eslint';

/*
 * The layers of the README's Development section, enforced per folder: each folder imports only
 * from the layers below it. Type-only imports are allowed everywhere (`import type`): they vanish
 * at compile time and add no dependency at run time. Tests, bench/ and packages/ are not layered.
 */

/** An import of `folder` (under src/ or at the root) from any depth: `../api/x`, `../../src/api`. */
const folder = (name) => `^(\\.\\./)+(src/)?${name}(/|$)`;

const restrict = (regex, message) => ({ regex, message, allowTypeImports: true });

const NOT_API = restrict(folder('api'), 'src/api translates HTTP: only src/bin (and scripts, tests) import it.');
const NOT_RULES = [
  restrict(folder('runs'), 'Lower layers do not import src/runs (the run rules sit above them).'),
  restrict(folder('sessions'), 'Lower layers do not import src/sessions (the session rules sit above them).'),
  restrict(folder('webhooks'), 'Lower layers do not import src/webhooks (the webhook rules sit above them).'),
];
/** src/db is the only place that writes SQL. */
const NO_SQL = ['pg', 'kysely'].map((name) => ({
  name,
  message: 'src/db is the only place that writes SQL: call a function of src/db instead.',
  allowTypeImports: true,
}));
/** Workflows run in Temporal's deterministic sandbox: the SDK and other workflow files only. */
const WORKFLOW_ONLY = restrict(
  '^(?!@temporalio/(workflow|common)$|\\./)',
  'workflows/ import only @temporalio/workflow (or /common) and other workflow files; activities and src/ as types only.',
);

const layer = (files, { paths = [], patterns = [] }) => ({
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths, patterns }] },
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', 'bench/results/**', 'packages/*/dist/**', 'test/artifacts/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // A later entry replaces an earlier one's options for the same file, so each entry lists all of
  // its folder's restrictions. Default for product code outside the folders named below:
  layer(['src/**/*.ts', 'activities/**/*.ts'], { paths: NO_SQL, patterns: [NOT_API] }),
  // The files at the top of src/ (config, bootstrap, ids, text…) name src/api as `./api`.
  layer(['src/*.ts'], { paths: NO_SQL, patterns: [restrict('^\\./api(/|$)', NOT_API.message)] }),
  layer(['src/api/**/*.ts'], { paths: NO_SQL }),
  layer(['src/runs/**/*.ts', 'src/sessions/**/*.ts', 'src/webhooks/**/*.ts'], { paths: NO_SQL, patterns: [NOT_API] }),
  layer(['src/db/**/*.ts'], { patterns: [NOT_API, ...NOT_RULES] }),
  layer(['src/streams/**/*.ts', 'src/providers/**/*.ts', 'src/workspaces/**/*.ts', 'src/tools/**/*.ts', 'src/net/**/*.ts'], { paths: NO_SQL, patterns: [NOT_API, ...NOT_RULES] }),
  layer(['workflows/**/*.ts'], { patterns: [WORKFLOW_ONLY] }),
  layer(['src/bin/**/*.ts'], {}),
  // src/api alone knows problem+json; the rules layers throw their own errors (src/api/domain-problems.ts maps them).
  {
    files: ['src/**/*.ts', 'activities/**/*.ts', 'workflows/**/*.ts'],
    ignores: ['src/api/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'Literal[value=/problem\\+json/]', message: 'Only src/api knows problem+json.' },
        { selector: 'TemplateElement[value.raw=/problem\\+json/]', message: 'Only src/api knows problem+json.' },
      ],
    },
  },
);
