import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../domain/errors.js';
import { parseImageReference } from '../../domain/image-reference.js';
import type { RegistryAuth } from '../../ports/container-runtime.js';

const DOCKER_HUB = 'https://index.docker.io/v1/';

/**
 * The registry host of an image reference, as Docker reads it: the domain the reference parser finds
 * (`Registry/x` names the host "Registry", since a path component cannot be uppercase), `docker.io` when
 * there is none. Undefined for text that is not a reference: no registry, so no credentials for it.
 */
export function registryOf(reference: string): string | undefined {
  const parsed = parseImageReference(reference);
  if (typeof parsed === 'string') return undefined;
  if (parsed.domain === null || parsed.domain === 'index.docker.io') return 'docker.io';
  return parsed.domain;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
}

/**
 * Credentials for the reference's registry from Docker's config.json (`auths` entries, as `docker login`
 * writes them without a credential helper). Undefined when there are none.
 */
export async function registryAuthFor(
  reference: string,
  dockerConfigDir: string,
): Promise<RegistryAuth | undefined> {
  const file = path.join(dockerConfigDir, 'config.json');
  let config: DockerConfigFile;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as DockerConfigFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(
      `cannot read registry credentials from ${file}: ${(error as Error).message}`,
      'E_USAGE',
      error,
    );
  }
  const registry = registryOf(reference);
  if (registry === undefined) return undefined;
  const keys =
    registry === 'docker.io'
      ? [DOCKER_HUB, 'docker.io', 'index.docker.io']
      : [registry, `https://${registry}`, `http://${registry}`];
  const entry = keys
    .map((key) => config.auths?.[key] ?? config.auths?.[`${key}/`])
    .find((candidate) => candidate !== undefined);
  if (entry === undefined) return undefined;
  const serveraddress = registry === 'docker.io' ? DOCKER_HUB : registry;
  if (entry.identitytoken) return { identitytoken: entry.identitytoken, serveraddress };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0)
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password, serveraddress };
  }
  return undefined;
}
