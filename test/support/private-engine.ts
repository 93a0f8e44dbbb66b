import { access, mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { type ResultPromise, execa } from 'execa';
import { BASE_IMAGE } from './paths.js';
import { eventually } from './harness.js';

export interface PrivateEngineOptions {
  /** `--live-restore`: containers keep running while the engine is down. */
  liveRestore?: boolean;
}

/**
 * A dockerd of one test's own, beside the machine's shared one: its own socket, data root, exec root
 * (hence its own containerd) and cgroup parent, no bridge and no iptables, so it can be stopped, killed and
 * restarted without touching anyone else's containers. Containers on it must use `networkMode: none`.
 */
export class PrivateEngine {
  readonly socketPath: string;
  /** For DOCKER_HOST. */
  readonly host: string;
  private process: ResultPromise | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private storageDriver: string | undefined;

  private constructor(
    readonly dir: string,
    private readonly cgroupParent: string,
    private readonly options: PrivateEngineOptions,
  ) {
    this.socketPath = path.join(dir, 'd.sock');
    this.host = `unix://${this.socketPath}`;
  }

  /** Starts a private engine and loads the base image into it from the shared engine. */
  static async create(options: PrivateEngineOptions = {}): Promise<PrivateEngine> {
    // Short: containerd's sockets live under the exec root, and a unix socket path is at most 107 bytes.
    const dir = await mkdtemp('/tmp/awpe-');
    const engine = new PrivateEngine(dir, `/${path.basename(dir)}`, options);
    try {
      await engine.start();
      await engine.loadImage(BASE_IMAGE);
    } catch (error) {
      await engine.destroy();
      throw error;
    }
    return engine;
  }

  get isRunning(): boolean {
    return this.process !== undefined;
  }

  /** A client of this engine. */
  client(): Docker {
    return new Docker({ socketPath: this.socketPath });
  }

  /**
   * Starts dockerd (again, on the same data root, with the same storage driver) and returns once it
   * answers.
   */
  async start(): Promise<void> {
    if (this.process !== undefined) throw new Error('the private engine already runs');
    if (this.storageDriver === undefined) {
      try {
        await this.launch(undefined);
      } catch {
        // overlay2 over this machine's filesystem may not work: vfs always does.
        await this.launch('vfs');
      }
      this.storageDriver = ((await this.client().info()) as { Driver: string }).Driver;
      return;
    }
    await this.forgetDeadContainerd();
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.launch(this.storageDriver);
        return;
      } catch (error) {
        if (attempt === 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  /**
   * A killed dockerd takes its containerd along, but that one stays a zombie when nothing reaps it, and a
   * new dockerd takes the zombie's pid (in containerd's pid file) for a live containerd and waits for it in
   * vain: the pid file of a containerd that is gone or a zombie is removed; a live one is waited for.
   */
  private async forgetDeadContainerd(): Promise<void> {
    const pidFile = path.join(this.dir, 'x', 'containerd', 'containerd.pid');
    await eventually(
      async () => {
        const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
        if (pid === '') return true;
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
        // The state follows the command name in parentheses.
        const state = stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (stat !== undefined && state !== 'Z' && state !== 'X') return undefined;
        await rm(pidFile, { force: true });
        return true;
      },
      30_000,
      'the previous containerd of the private engine to exit',
    );
  }

  private async launch(storageDriver: string | undefined): Promise<void> {
    const hadBridge = await hasDefaultBridge();
    // A network namespace of its own: a dockerd started with `--bridge none` deletes the interface named
    // docker0 in its namespace, which would otherwise be the machine's, cutting off every container that the
    // shared engine runs on the default bridge. unshare execs dockerd, so the child's pid is dockerd's.
    const child = execa(
      'unshare',
      [
        '--net',
        '--',
        'dockerd',
        '--host',
        this.host,
        '--data-root',
        path.join(this.dir, 'data'),
        '--exec-root',
        path.join(this.dir, 'x'),
        '--pidfile',
        path.join(this.dir, 'd.pid'),
        '--bridge',
        'none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-masq=false',
        '--cgroup-parent',
        this.cgroupParent,
        ...(storageDriver === undefined ? [] : ['--storage-driver', storageDriver]),
        ...(this.options.liveRestore === true ? ['--live-restore'] : []),
      ],
      {
        reject: false,
        stdout: 'ignore',
        // Kept beside the engine's data, for a failing test to be looked into.
        stderr: { file: path.join(this.dir, 'dockerd.log'), append: true },
        forceKillAfterDelay: false,
      },
    );
    this.process = child;
    let hasExited = false;
    this.exited = child.then(() => {
      hasExited = true;
      if (this.process === child) this.process = undefined;
    });
    const docker = this.client();
    try {
      await eventually(
        async () => {
          if (hasExited) throw new Error('the private dockerd exited while starting');
          return await docker.ping().then(
            () => true,
            () => undefined,
          );
        },
        60_000,
        'the private dockerd to answer',
      );
      // The private engine must leave the shared one as it was (see the network namespace above).
      if (hadBridge && !(await hasDefaultBridge())) {
        throw new Error("starting a private dockerd removed the machine's docker0 bridge");
      }
    } catch (error) {
      await this.stop('SIGKILL');
      throw error;
    }
  }

  /** Stops dockerd with the signal (SIGTERM: it stops its containers first; SIGKILL: it leaves them). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (child === undefined) return;
    child.kill(signal);
    const exited = this.exited;
    const inTime = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) =>
        setTimeout(() => {
          resolve(false);
        }, 60_000),
      ),
    ]);
    if (!inTime) {
      child.kill('SIGKILL');
      await exited;
    }
    this.process = undefined;
  }

  /** Copies an image from the shared engine into this one. */
  async loadImage(reference: string): Promise<void> {
    await execa('docker', ['save', reference]).pipe('docker', ['-H', this.host, 'load']);
  }

  /** Stops the engine and removes everything it left: processes, mounts, cgroups, the directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGTERM');
    // Container shims outlive a dockerd killed with SIGKILL: end those of this engine, by pid.
    for (const pid of await processesMentioning(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    for (const mountPoint of await mountsUnder(this.dir)) {
      await execa('umount', ['-l', mountPoint], { reject: false });
    }
    await removeCgroups(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Whether this network namespace has the shared engine's default bridge. */
async function hasDefaultBridge(): Promise<boolean> {
  return await access('/sys/class/net/docker0').then(
    () => true,
    () => false,
  );
}

async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

/** Mount points below `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** The engine's cgroup parent in every hierarchy (cgroup v1) or the unified one (v2), once it is empty. */
async function removeCgroups(parent: string): Promise<void> {
  const roots = await readdir('/sys/fs/cgroup').catch(() => []);
  const candidates = [
    path.join('/sys/fs/cgroup', parent),
    ...roots.map((root) => path.join('/sys/fs/cgroup', root, parent)),
  ];
  for (const dir of candidates) {
    const children = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (children === undefined) continue;
    for (const child of children) {
      if (child.isDirectory()) await rmdir(path.join(dir, child.name)).catch(() => undefined);
    }
    await rmdir(dir).catch(() => undefined);
  }
}
