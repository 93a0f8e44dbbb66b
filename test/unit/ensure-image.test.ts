import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ContainerRuntime, ImageInfo } from '../../src/ports/container-runtime.js';
import { ensureImage } from '../../src/stages/run.js';

const REFERENCE = 'registry.example/act:1';
const INFO: ImageInfo = {
  id: 'sha256:abc',
  reference: REFERENCE,
  repoDigests: [],
  user: '',
  stopSignal: null,
};

/** Only what the image check touches: inspect and pull, counted. */
function engine(present: boolean) {
  const calls = { inspect: 0, pull: 0 };
  const runtime = {
    inspectImage: () => {
      calls.inspect += 1;
      return Promise.resolve(present ? INFO : undefined);
    },
    pullImage: () => {
      calls.pull += 1;
      return Promise.resolve(INFO);
    },
  } as unknown as ContainerRuntime;
  return { runtime, calls };
}

function images(pullPolicy: 'always' | 'if-not-present' | 'never') {
  return { pullPolicy, pullTimeoutMs: 60_000, pullNoProgressTimeoutMs: 60_000 } as never;
}

const logger = pino({ level: 'silent' });
const signal = new AbortController().signal;

describe('ensureImage', () => {
  it('uses an image already present, pulling nothing, unless the policy is always', async () => {
    const present = engine(true);
    await expect(
      ensureImage(REFERENCE, { ...present, logger, images: images('if-not-present') }, signal),
    ).resolves.toBe(INFO);
    expect(present.calls).toEqual({ inspect: 1, pull: 0 });
    const always = engine(true);
    await ensureImage(REFERENCE, { ...always, logger, images: images('always') }, signal);
    expect(always.calls).toEqual({ inspect: 0, pull: 1 });
  });

  it('pulls a missing image with if-not-present, and refuses it with never', async () => {
    const missing = engine(false);
    await ensureImage(REFERENCE, { ...missing, logger, images: images('if-not-present') }, signal);
    expect(missing.calls).toEqual({ inspect: 1, pull: 1 });
    const never = engine(false);
    await expect(
      ensureImage(REFERENCE, { ...never, logger, images: images('never') }, signal),
    ).rejects.toMatchObject({ code: 'E_IMAGE_NOT_FOUND' });
    expect(never.calls.pull).toBe(0);
  });

  it('refuses a malformed reference before asking the engine anything', async () => {
    const any = engine(true);
    await expect(
      ensureImage('bad ref', { ...any, logger, images: images('if-not-present') }, signal),
    ).rejects.toThrow();
    expect(any.calls).toEqual({ inspect: 0, pull: 0 });
  });
});
