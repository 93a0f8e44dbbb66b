import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { EngineRedirectError, createEngineClient } from '../../src/adapters/docker/engine-client.js';

/** Listens on 127.0.0.1 on a free port; records what reaches it. */
async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * A fake engine on loopback TCP that answers every request with a redirect to a second loopback listener,
 * which records whether anything ever reached it.
 */
describe('the engine client', () => {
  let engine: Server;
  let target: Server;
  let enginePort: number;
  let targetPort: number;
  const engineHits: string[] = [];
  const targetHits: string[] = [];
  let location: (path: string) => string;

  beforeAll(async () => {
    ({ server: target, port: targetPort } = await listen((request, response) => {
      targetHits.push(`${request.method ?? ''} ${request.url ?? ''}`);
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    }));
    ({ server: engine, port: enginePort } = await listen((request, response) => {
      engineHits.push(`${request.method ?? ''} ${request.url ?? ''}`);
      response.statusCode = 301;
      response.setHeader('location', location(request.url ?? '/'));
      response.end();
    }));
  });

  beforeEach(() => {
    engineHits.length = 0;
    targetHits.length = 0;
    location = () => `http://127.0.0.1:${targetPort}/admin/x/json`;
  });

  afterAll(async () => {
    await Promise.all([engine, target].map((server) => new Promise((resolve) => server.close(resolve))));
  });

  /**
   * What reached the target besides a sentinel sent now: a redirected request would have been sent as soon
   * as the redirect arrived, before the error it ended in, so before the sentinel.
   */
  const hitsOnTarget = async (): Promise<string[]> => {
    await (await fetch(`http://127.0.0.1:${targetPort}/sentinel`)).text();
    return targetHits.filter((hit) => hit !== 'GET /sentinel');
  };

  const options = (): Docker.DockerOptions => ({ host: '127.0.0.1', port: enginePort, protocol: 'http' });

  it('(control) plain dockerode follows the redirect to the other address', async () => {
    await expect(new Docker(options()).getImage('act:1').inspect()).rejects.toThrow();
    // The redirected request is fire-and-forget inside docker-modem: poll for it with a deadline.
    const deadline = Date.now() + 5_000;
    while (targetHits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(targetHits).toEqual(['GET /admin/x/json']);
  });

  it('turns a redirect into an error and never sends the second request', async () => {
    const docker = createEngineClient(options());
    await expect(docker.getImage('act:1').inspect()).rejects.toBeInstanceOf(EngineRedirectError);
    await expect(docker.ping()).rejects.toBeInstanceOf(EngineRedirectError);
    // A streamed answer (pull) goes through the same path.
    await expect(docker.pull('act:1')).rejects.toBeInstanceOf(EngineRedirectError);
    expect(engineHits).toHaveLength(3);
    expect(await hitsOnTarget()).toEqual([]);
  });

  it('refuses a relative Location the way the engine sends one after cleaning a path', async () => {
    // What dockerd answers for GET /images/../../127.0.0.1:PORT/admin/x/json.
    location = () => `/127.0.0.1:${targetPort}/admin/x/json`;
    const docker = createEngineClient(options());
    await expect(docker.getImage('act:1').inspect()).rejects.toBeInstanceOf(EngineRedirectError);
    expect(await hitsOnTarget()).toEqual([]);
  });

  it('is what DockerContainerRuntime uses, also around a client it is given', async () => {
    const runtime = new DockerContainerRuntime({ docker: new Docker(options()) });
    const failure = await runtime.inspectImage('act:1').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EngineRedirectError);
    expect((failure as Error).message).toContain('redirect');
    await expect(runtime.ping()).rejects.toBeInstanceOf(EngineRedirectError);
    expect(engineHits.length).toBe(2);
    expect(await hitsOnTarget()).toEqual([]);
  });

  it('never sends a request for an invalid image reference', async () => {
    const runtime = new DockerContainerRuntime({ docker: new Docker(options()) });
    await expect(runtime.inspectImage('../../127.0.0.1:1/admin/x')).rejects.toMatchObject({
      code: 'E_INVALID_IMAGE_REFERENCE',
    });
    await expect(
      runtime.pullImage({
        reference: '../../etc/passwd',
        signal: new AbortController().signal,
        timeoutMs: 5_000,
        noProgressTimeoutMs: 5_000,
      }),
    ).rejects.toMatchObject({ code: 'E_INVALID_IMAGE_REFERENCE', retryable: false });
    expect(engineHits).toEqual([]);
  });
});
