import { createServer } from 'node:net';
import { type ResultPromise, execa } from 'execa';
import { eventually, tempDir } from './harness.js';

/**
 * A redis-server of one test's own on a free loopback port, persisting to an append-only file in its own
 * directory, so the test may shut it down and start it again without touching the shared one.
 */
export class PrivateRedis {
  private server: ResultPromise | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** `port`: a given loopback port (another server's, once that one is stopped), else a free one. */
  static async create(port?: number): Promise<PrivateRedis> {
    const redis = new PrivateRedis(port ?? (await freePort()), await tempDir('redis'));
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = execa(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { reject: false },
    );
    await eventually(
      async () => {
        const ping = await execa('redis-cli', ['-p', String(this.port), 'ping'], { reject: false });
        return ping.stdout.trim() === 'PONG' ? true : undefined;
      },
      10_000,
      'the private redis-server to answer',
    );
  }

  /** Shuts it down (persisting first) and waits for the process to end. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await execa('redis-cli', ['-p', String(this.port), 'shutdown'], { reject: false });
    await server;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
