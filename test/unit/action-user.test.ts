import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CAPABILITIES,
  NON_ROOT_CAPABILITIES,
  WorkerSettings,
  type WorkerSettingsInput,
} from '../../src/config/worker-settings.js';
import { HelperPurpose, Labels, helperLabels } from '../../src/domain/container-labels.js';
import type { ImageInfo } from '../../src/ports/container-runtime.js';
import type { PipelineDeps } from '../../src/stages/invocation-plan.js';
import { capabilitiesFor, inputStagingFor, resolveActionUser } from '../../src/stages/run.js';

const image: ImageInfo = {
  id: 'sha256:1',
  reference: 'some/image:1',
  repoDigests: [],
  user: 'app',
  stopSignal: null,
};

const owner = { host: 'h', pid: 42, workerId: 'w-1', deployment: { id: 'd', keyPrefix: 'k', queue: 'q' } };
const attempt = { invocationId: 'iv_1', attempt: 2, action: { name: 'act' } };

function deps(
  container: WorkerSettingsInput['container'],
  imageUser = { uid: 1000, gid: 1000 },
  onResolve: (labels: Record<string, string>) => void = () => undefined,
) {
  return {
    settings: { container: WorkerSettings.parse({ container }).container, workerId: 'w-1', owner },
    runtime: {
      resolveImageUser: (_id: string, _user: string, labels: Record<string, string>) => {
        onResolve(labels);
        return Promise.resolve(imageUser);
      },
    },
  } as unknown as PipelineDeps;
}

const workerUid = process.getuid?.();
const isRoot = workerUid === 0;

describe('who an action runs as', () => {
  it("resolves the image's user with a helper container labelled as ours: attempt, owner, deployment", async () => {
    let labels: Record<string, string> | undefined;
    await resolveActionUser(
      deps({ user: 'image' }, undefined, (given) => (labels = given)),
      image,
      attempt,
    );
    expect(labels).toEqual(
      helperLabels(
        HelperPurpose.imageUser,
        { workerId: 'w-1', invocationId: 'iv_1', attempt: 2, actionName: 'act' },
        owner,
      ),
    );
    expect(labels).toMatchObject({
      [Labels.managed]: 'true',
      [Labels.invocationId]: 'iv_1',
      [Labels.attempt]: '2',
      [Labels.helper]: HelperPurpose.imageUser,
      [Labels.ownerPid]: '42',
      [Labels.deploymentId]: 'd',
    });
  });

  it('by default: 65532:65532 for a root worker (configurable), the worker itself otherwise', async () => {
    expect(await resolveActionUser(deps({}), image, attempt)).toEqual(
      isRoot ? { uid: 65532, gid: 65532 } : { uid: workerUid, gid: process.getgid?.() },
    );
    if (isRoot) {
      expect(await resolveActionUser(deps({ unprivilegedUser: '2000:3000' }), image, attempt)).toEqual({
        uid: 2000,
        gid: 3000,
      });
    }
  });

  it('as root only by name', async () => {
    expect(await resolveActionUser(deps({ user: 'root' }), image, attempt)).toEqual({ uid: 0, gid: 0 });
    expect(await resolveActionUser(deps({ user: '0:0' }), image, attempt)).toEqual({ uid: 0, gid: 0 });
    await expect(
      resolveActionUser(deps({ user: 'image' }, { uid: 0, gid: 0 }), image, attempt),
    ).rejects.toThrow(
      /container.user "image": the USER of some\/image:1 is root, and actions run as root only when asked for by name/,
    );
    if (isRoot) {
      await expect(resolveActionUser(deps({ user: 'worker' }), image, attempt)).rejects.toThrow(
        /container.user "worker": this worker is root/,
      );
    }
  });

  it('never takes root as the unprivileged user', () => {
    expect(() => WorkerSettings.parse({ container: { unprivilegedUser: '0:0' } })).toThrow(
      /must not be root/,
    );
    expect(() => WorkerSettings.parse({ container: { unprivilegedUser: '65532' } })).toThrow(
      /must be uid:gid/,
    );
  });
});

describe('how inputs are staged', () => {
  const worker = 0;
  it('hard-links only for a user that can neither write nor chmod a file it does not own', () => {
    expect(inputStagingFor({ uid: 65532, gid: 65532 }, worker, [])).toBe('link');
    expect(inputStagingFor({ uid: 65532, gid: 0 }, worker, ['SYS_PTRACE'])).toBe('link');
  });

  it('copies for root, for the cache entries’ owner, for an unknown user, and for file-owner capabilities', () => {
    expect(inputStagingFor({ uid: 0, gid: 0 }, worker, [])).toBe('copy');
    expect(inputStagingFor({ uid: 1000, gid: 1000 }, 1000, [])).toBe('copy');
    expect(inputStagingFor(null, worker, [])).toBe('copy');
    expect(inputStagingFor({ uid: 65532, gid: 65532 }, undefined, [])).toBe('copy');
    for (const capability of [
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'FSETID',
      'SYS_ADMIN',
      'CAP_FOWNER',
      'ALL',
    ]) {
      expect(inputStagingFor({ uid: 65532, gid: 65532 }, worker, [capability]), capability).toBe('copy');
    }
  });
});

describe('the capability allowlist', () => {
  it('keeps CHOWN, DAC_OVERRIDE, FOWNER and FSETID for root only', () => {
    expect(capabilitiesFor({ uid: 0, gid: 0 }, [])).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilitiesFor(null, [])).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilitiesFor({ uid: 65532, gid: 65532 }, [])).toEqual([
      'KILL',
      'SETGID',
      'SETUID',
      'NET_BIND_SERVICE',
    ]);
    expect(NON_ROOT_CAPABILITIES).toEqual(['KILL', 'SETGID', 'SETUID', 'NET_BIND_SERVICE']);
  });

  it('adds capAdd to either, once', () => {
    expect(capabilitiesFor({ uid: 65532, gid: 65532 }, ['SYS_PTRACE', 'KILL'])).toEqual([
      ...NON_ROOT_CAPABILITIES,
      'SYS_PTRACE',
    ]);
  });
});
