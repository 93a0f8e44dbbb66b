// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The client libraries of the technologies adapters/ wrap: no other layer imports them. */
const TECHNOLOGIES = [
  'bullmq',
  'ioredis',
  'dockerode',
  'docker-modem',
  'tar-fs',
  'kysely',
  'better-sqlite3',
  'pg',
];

/**
 * One layer's import rule: no import of ours from `folders` (relative paths only: everything of ours is
 * imported relatively), with `why` as the message; and, unless `technologies` is false, none of the
 * client libraries only adapters/ may use.
 * @param {string} files
 * @param {string[]} folders
 * @param {{ why: string, extra?: { regex: string, message: string }[], technologies?: boolean }} rule
 */
function layer(files, folders, { why, extra = [], technologies = true }) {
  const patterns = [
    { regex: `^(\\.\\./)+(${folders.join('|')})/`, message: why },
    ...extra.map(({ regex, message }) => ({ regex, message: `${message}: ${why}` })),
    ...(technologies
      ? [
          {
            regex: `^(${TECHNOLOGIES.join('|')})(/|$)`,
            message: 'only adapters/ use the Redis, queue, Docker and SQL client libraries, behind ports/',
          },
        ]
      : []),
  ];
  return {
    files: [files],
    rules: {
      'no-restricted-imports': ['error', { patterns }],
      // The same rule for `import(…)`, which no-restricted-imports does not see (cli/ loads commands lazily).
      // A selector's regex cannot hold a slash: \x2F stands for it.
      'no-restricted-syntax': [
        'error',
        ...patterns.map(({ regex, message }) => ({
          selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\x2F')}/]`,
          message,
        })),
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'examples/**/*.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.js'],
    rules: { 'no-console': 'off' },
  },
  { files: ['bench/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
  // The layers (docs/architecture: domain ← ports ← stages ← app ← cli; adapters beside stages), as
  // import rules: each block lists the folders of ours a layer may not import.
  layer(
    'src/domain/**/*.ts',
    ['ports', 'stages', 'adapters', 'app', 'cli', 'config', 'util', 'observability'],
    {
      why: 'domain/ is pure: it imports nothing of ours outside domain/ (not util/ either: it does I/O and timers)',
    },
  ),
  layer('src/ports/**/*.ts', ['stages', 'adapters', 'app', 'cli', 'config', 'util', 'observability'], {
    why: 'ports/ are interfaces over domain/ types: they import domain/ only',
  }),
  layer('src/stages/**/*.ts', ['adapters', 'app', 'cli'], {
    why: 'stages/ are written against ports/, never a concrete adapter, and know nothing of app/ or cli/',
  }),
  layer('src/adapters/**/*.ts', ['stages', 'app', 'cli', 'config', 'observability', 'adapters'], {
    why: 'an adapter implements ports/ with domain/ (and util/) only, and never imports another adapter',
    technologies: false,
    // From adapters/<technology>/, "../<folder>/" is another adapter's folder.
    extra: [{ regex: '^\\.\\./(?!\\.\\./)[^/]+/', message: 'adapters never import each other' }],
  }),
  layer('src/api/**/*.ts', ['adapters', 'stages', 'app', 'cli', 'config', 'util', 'observability'], {
    why:
      'api/ is the inbound HTTP adapter: routes and HTTP schemas over ports/ and domain/; app/ composes it ' +
      'with the stores',
  }),
  layer('src/app/**/*.ts', ['cli'], { why: 'app/ composes; cli/ calls app/, never the other way' }),
  layer('src/cli/**/*.ts', ['adapters', 'stages', 'util'], {
    why:
      'cli/ parses, calls app/ and prints: it imports app/, config/, domain/, ports/ (the types app/ hands ' +
      'back) and observability/ (the logger it configures); app/ builds the adapters',
  }),
  layer('src/config/**/*.ts', ['ports', 'stages', 'adapters', 'app', 'cli', 'util', 'observability'], {
    why: 'config/ is the settings schema over domain/ only',
  }),
  layer('src/util/**/*.ts', ['ports', 'stages', 'adapters', 'app', 'cli', 'config', 'observability'], {
    why: 'util/ holds small helpers that need nothing of ours but domain/ errors',
  }),
  layer('src/observability/**/*.ts', ['ports', 'stages', 'adapters', 'app', 'cli', 'config', 'util'], {
    why: 'observability/ sets up logging: it needs nothing of ours but domain/',
  }),
  // The daemon is written against ports: its composition root is the one file of app/daemon/ that imports
  // adapters. The rest of app/ is not held to this yet (control-plane.ts, local-adapters.ts and local-run.ts
  // build adapters; garbage-collector.ts, invocations.ts and dataset-transfer.ts still use some directly).
  {
    ...layer('src/app/daemon/**/*.ts', ['adapters', 'cli'], {
      why:
        'app/daemon/ runs on ports (JobSource, JobQueue, InvocationStore…): only its composition root, ' +
        'compose-daemon.ts, builds adapters',
    }),
    ignores: ['src/app/daemon/compose-daemon.ts'],
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
);
