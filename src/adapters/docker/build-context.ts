import { lstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import dockerignoreModule, { type Ignore } from '@balena/dockerignore';
import { pack } from 'tar-fs';

// The package is CommonJS with `module.exports = factory`.
const createIgnore = dockerignoreModule as unknown as (options: { ignorecase: boolean }) => Ignore;

/**
 * A tar stream of a build context that honours .dockerignore the way the Docker CLI does: paths are
 * matched relative to the context, and the Dockerfile and .dockerignore are always sent.
 */
export async function packBuildContext(contextDir: string, dockerfile: string): Promise<Readable> {
  const patterns = await readDockerignore(contextDir);
  const matcher = createIgnore({ ignorecase: false }).add(patterns);
  // With an exception pattern ("!keep/this") a directory cannot be skipped as a whole.
  const hasExceptions = patterns.some((pattern) => pattern.trim().startsWith('!'));
  const alwaysSent = new Set([path.normalize(dockerfile), '.dockerignore']);
  const stream = pack(contextDir, {
    ignore: (name: string) => {
      const relative = path.relative(contextDir, name);
      if (relative === '' || alwaysSent.has(relative)) return false;
      if (!matcher.ignores(relative)) return false;
      // Descend into an ignored directory when an exception may re-include something below it.
      return !(hasExceptions && lstatSync(name).isDirectory());
    },
  });
  // tar-stream's Pack is a streamx Readable; Docker's client only pipes it.
  return stream as unknown as Readable;
}

async function readDockerignore(contextDir: string): Promise<string[]> {
  try {
    const text = await readFile(path.join(contextDir, '.dockerignore'), 'utf8');
    return text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
