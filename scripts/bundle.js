// Bundles the CLI into dist/bundle/: a small entry (main.js) and chunks that each command loads when it
// runs (esbuild's code splitting, ES modules). Start-up then reads a few files instead of resolving and
// compiling several hundred modules one by one; `--version` still loads only the entry.
//
// Left outside the bundle, loaded from node_modules at run time: packages with native addons
// (better-sqlite3, ssh2's optional cpu-features, pg's optional pg-native) and yaml, which the settings
// loader requires on demand. Beside the chunks, meta.json lists the packages inside each chunk, so that a
// test can tell which libraries a command loaded (test/integration/cli-startup-modules.test.ts).
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const outdir = path.join(root, 'dist', 'bundle');
const EXTERNAL = ['better-sqlite3', 'ssh2', 'cpu-features', 'pg-native', 'yaml'];

/**
 * Two parts of the Docker client that every command loading it paid for and none uses:
 * - dockerode's BuildKit session (`buildImage` with `version: "2"`), which pulls in gRPC and protobufjs
 *   (a third of the Docker chunk): action images are built with the classic builder, so the session
 *   module is replaced by one that says so if it is ever called;
 * - ssh2, which docker-modem requires at load for `ssh://` engines: required when the first SSH
 *   connection is made instead.
 * Each rewrite checks the text it replaces, so a dependency upgrade that moves it fails the build.
 */
const lazyDockerParts = {
  name: 'lazy-docker-parts',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]dockerode[\\/]lib[\\/]session\.js$/ }, () => ({
      contents:
        "module.exports = function withSession() { throw new Error('BuildKit sessions (buildImage version 2) are not part of this build of action-worker'); };",
      loader: 'js',
    }));
    builder.onLoad({ filter: /[\\/]docker-modem[\\/]lib[\\/]ssh\.js$/ }, async ({ path: file }) => {
      const source = await readFile(file, 'utf8');
      const eager = "var Client = require('ssh2').Client,";
      if (!source.startsWith(eager)) throw new Error(`${file} no longer starts with ${eager}`);
      const lazy = "var Client = function (...args) { return new (require('ssh2').Client)(...args); },";
      return { contents: lazy + source.slice(eager.length), loader: 'js' };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: [path.join(root, 'src', 'cli', 'main.ts')],
  absWorkingDir: root,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  external: EXTERNAL,
  // CommonJS packages inside the bundle call require() for node's own modules and the externals.
  banner: {
    js: "import { createRequire as __awCreateRequire } from 'node:module';\nconst require = __awCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  metafile: true,
  plugins: [lazyDockerParts],
  logLevel: 'warning',
});

const packages = {};
for (const [output, { inputs }] of Object.entries(metafile.outputs)) {
  if (!output.endsWith('.js')) continue;
  const names = new Set();
  for (const input of Object.keys(inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) names.add(match[1]);
  }
  packages[path.basename(output)] = [...names].sort();
}
await writeFile(
  path.join(outdir, 'meta.json'),
  `${JSON.stringify({ external: EXTERNAL, packages }, null, 2)}\n`,
);
