import type Docker from 'dockerode';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { UsageError } from '../../domain/errors.js';

/** Reads one file out of a tar stream (the answer of the archive endpoint). */
async function readFromTar(stream: NodeJS.ReadableStream, name: string): Promise<string | undefined> {
  const tar = extract();
  let content: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    tar.on('entry', (header, entry, next) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      entry.on('end', () => {
        if (header.name === name || header.name.endsWith(`/${name}`))
          content = Buffer.concat(chunks).toString('utf8');
        next();
      });
      entry.resume();
    });
    tar.on('finish', resolve);
    tar.on('error', reject);
  });
  // pipeline passes an error of the engine's stream on to us instead of leaving it unhandled.
  await Promise.all([pipeline(stream, tar), done]);
  return content;
}

/**
 * The helper container that reads the image's files: created, never started. It carries `labels` (managed,
 * owner, helper purpose) so that when the worker dies before removing it, the leftover sweep can.
 */
export async function createReaderContainer(
  docker: Docker,
  imageId: string,
  labels: Record<string, string>,
): Promise<Docker.Container> {
  return await docker.createContainer({
    Image: imageId,
    Entrypoint: ['/nonexistent'],
    Cmd: [],
    Labels: labels,
  });
}

async function readImageFile(
  docker: Docker,
  imageId: string,
  file: string,
  labels: Record<string, string>,
): Promise<string | undefined> {
  const container = await createReaderContainer(docker, imageId, labels);
  try {
    const archive = await container.getArchive({ path: file });
    return await readFromTar(archive, file.split('/').pop() ?? file);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  } finally {
    await container.remove({ force: true });
  }
}

function lookup(table: string | undefined, key: string, byName: boolean): string[] | undefined {
  for (const line of (table ?? '').split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && (byName ? fields[0] === key : fields[2] === key)) return fields;
  }
  return undefined;
}

/**
 * Resolves `user` ("", "name", "uid", "name:group", "uid:gid") the way Docker does inside the image: names
 * through its /etc/passwd and /etc/group; a numeric uid without an entry gets gid 0.
 */
export async function resolveImageUser(
  docker: Docker,
  imageId: string,
  user: string,
  /** The helper container's labels (see helperLabels). */
  labels: Record<string, string>,
): Promise<{ uid: number; gid: number }> {
  if (user === '' || user === 'root') return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':');
  const isNumeric = (value: string): boolean => /^\d+$/.test(value);
  const needsPasswd = !isNumeric(userPart) || groupPart === undefined;
  const passwd = needsPasswd ? await readImageFile(docker, imageId, '/etc/passwd', labels) : undefined;
  const entry = lookup(passwd, userPart, !isNumeric(userPart));
  if (!isNumeric(userPart) && entry === undefined) {
    throw new UsageError(
      `the image's user "${userPart}" is not in its /etc/passwd`,
      'E_INVALID_ACTION_CONFIG',
    );
  }
  const uid = Number(isNumeric(userPart) ? userPart : entry?.[2]);
  let gid = Number(entry?.[3] ?? 0);
  if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const group = lookup(await readImageFile(docker, imageId, '/etc/group', labels), groupPart, true);
      if (group === undefined)
        throw new UsageError(
          `the image's group "${groupPart}" is not in its /etc/group`,
          'E_INVALID_ACTION_CONFIG',
        );
      gid = Number(group[2]);
    }
  }
  return { uid, gid };
}
