import { describe, expect, it } from 'vitest';
import { PLACEHOLDER_API_KEY, settingsFromEnv } from '../../src/config/worker-settings.js';
import { UsageError } from '../../src/domain/errors.js';

describe('settingsFromEnv', () => {
  it('has safe defaults with nothing set', () => {
    const settings = settingsFromEnv({});
    expect(settings.roboto.apiKey).toBe(PLACEHOLDER_API_KEY);
    expect(settings.container).toMatchObject({
      user: 'auto',
      unprivilegedUser: '65532:65532',
      networkMode: 'bridge',
      readOnlyRootfs: false,
      capAdd: [],
    });
    expect(settings.images.pullPolicy).toBe('if-not-present');
    expect(settings.defaultTimeoutMinutes).toBe(720);
  });

  it('reads every kind of value', () => {
    const settings = settingsFromEnv({
      ROBOTO_API_KEY: 'from-roboto',
      ACTION_WORKER_STOP_GRACE: '30',
      ACTION_WORKER_PULL_TIMEOUT: '5m',
      ACTION_WORKER_READ_ONLY_ROOTFS: 'yes',
      ACTION_WORKER_CAP_ADD: 'SYS_PTRACE, NET_RAW',
      ACTION_WORKER_CONTAINER_USER: '1000:1000',
      ACTION_WORKER_CAPACITY_VCPU: '4096',
    });
    expect(settings.roboto.apiKey).toBe('from-roboto');
    expect(settings.container.stopGraceMs).toBe(30_000);
    expect(settings.images.pullTimeoutMs).toBe(300_000);
    expect(settings.container.readOnlyRootfs).toBe(true);
    expect(settings.container.capAdd).toEqual(['SYS_PTRACE', 'NET_RAW']);
    expect(settings.container.user).toBe('1000:1000');
    expect(settings.capacity.vcpu).toBe(4096);
  });

  it('prefers ACTION_WORKER_API_KEY and ignores empty values', () => {
    expect(settingsFromEnv({ ACTION_WORKER_API_KEY: 'mine', ROBOTO_API_KEY: 'theirs' }).roboto.apiKey).toBe(
      'mine',
    );
    expect(settingsFromEnv({ ROBOTO_API_KEY: '' }).roboto.apiKey).toBe(PLACEHOLDER_API_KEY);
  });

  it.each([
    [{ ACTION_WORKER_PIDS_LIMIT: 'many' }, /ACTION_WORKER_PIDS_LIMIT="many" must be a whole number/],
    [{ ACTION_WORKER_PULL_POLICY: 'sometimes' }, /images\.pullPolicy/],
    [
      { ACTION_WORKER_CONTAINER_USER: 'bob' },
      /container\.user: must be auto, worker, image, root, or uid\[:gid\]/,
    ],
    [{ ACTION_WORKER_UNPRIVILEGED_USER: '0:0' }, /container\.unprivilegedUser: must not be root/],
    [{ ACTION_WORKER_READ_ONLY_ROOTFS: 'perhaps' }, /must be true or false/],
    [{ ACTION_WORKER_SERVICE_ENDPOINT: 'not a url' }, /roboto\.serviceEndpoint/],
  ])('refuses %j naming the variable or setting', (env, message) => {
    expect(() => settingsFromEnv(env)).toThrow(UsageError);
    expect(() => settingsFromEnv(env)).toThrow(message);
  });
});

describe('the API signing key', () => {
  const secret = 'k'.repeat(40);

  it('comes from ACTION_WORKER_API_SIGNING_SECRET, with the public URL beside it', () => {
    const settings = settingsFromEnv({
      ACTION_WORKER_API_SIGNING_SECRET: secret,
      ACTION_WORKER_API_PUBLIC_URL: 'https://api.example.test',
    });
    expect(settings.api.signingSecret).toBe(secret);
    expect(settings.api.publicUrl).toBe('https://api.example.test');
  });

  it("is unset when the variable is empty (Compose's ${VAR:-} default): each process makes its own", () => {
    expect(settingsFromEnv({ ACTION_WORKER_API_SIGNING_SECRET: '' }).api.signingSecret).toBeNull();
  });

  it('refuses a key shorter than 32 characters without echoing it', () => {
    const short = 'tooshort-secret-value';
    let caught: unknown;
    try {
      settingsFromEnv({ ACTION_WORKER_API_SIGNING_SECRET: short });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toMatch(/signingSecret/);
    expect((caught as Error).message).not.toContain(short);
  });
});
