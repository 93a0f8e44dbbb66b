import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { ContainerEvents } from '../../src/adapters/docker/container-events.js';

/** An engine whose event stream the test writes to and ends. */
function fakeEngine(): { docker: Docker; stream: PassThrough; filters: () => unknown } {
  const stream = new PassThrough();
  let filters: unknown;
  const docker = {
    getEvents: (options: { filters: unknown }) => {
      filters = options.filters;
      return Promise.resolve(stream);
    },
  } as unknown as Docker;
  return { docker, stream, filters: () => filters };
}

const event = (action: string): string => `${JSON.stringify({ Type: 'container', Action: action })}\n`;

describe('ContainerEvents', () => {
  it("follows only the container's oom, kill and die events", async () => {
    const { docker, filters } = fakeEngine();
    const events = await ContainerEvents.watch(docker, 'c1');
    expect(filters()).toEqual({ type: ['container'], event: ['oom', 'kill', 'die'], container: ['c1'] });
    events.stop();
  });

  it('tells an OOM kill and a kill request from outside, split across chunks or not', async () => {
    const { docker, stream } = fakeEngine();
    const events = await ContainerEvents.watch(docker, 'c1');
    const kill = event('kill');
    stream.write(kill.slice(0, 10));
    stream.write(kill.slice(10) + event('oom'));
    stream.write(event('die'));
    await events.dieSeen(5_000);
    expect(events.hasSeenOutsideKill).toBe(true);
    expect(events.hasSeenOom).toBe(true);
    expect(events.isEngineGone).toBe(false);
    events.stop();
  });

  it('sees nothing of an action that ended by itself', async () => {
    const { docker, stream } = fakeEngine();
    const events = await ContainerEvents.watch(docker, 'c1');
    stream.write(event('die'));
    await events.dieSeen(5_000);
    expect(events.hasSeenOutsideKill).toBe(false);
    expect(events.isEngineGone).toBe(false);
    events.stop();
  });

  it('takes the stream ending or breaking for the engine going away, but not its own stop', async () => {
    const ended = fakeEngine();
    const first = await ContainerEvents.watch(ended.docker, 'c1');
    ended.stream.end();
    ended.stream.resume();
    expect(await first.goneWithin(5_000, () => Promise.resolve(false))).toBe(true);
    expect(first.gone.aborted).toBe(true);

    const broken = fakeEngine();
    const second = await ContainerEvents.watch(broken.docker, 'c2');
    broken.stream.destroy(new Error('aborted'));
    await second.dieSeen(5_000);
    expect(second.isEngineGone).toBe(true);

    const stopped = fakeEngine();
    const third = await ContainerEvents.watch(stopped.docker, 'c3');
    third.stop();
    expect(third.isEngineGone).toBe(false);
  });

  it('gives up waiting for the engine to go away after the bound, or as soon as the probe says so', async () => {
    const { docker } = fakeEngine();
    const events = await ContainerEvents.watch(docker, 'c1');
    expect(await events.goneWithin(50, () => Promise.resolve(false))).toBe(false);
    expect(await events.goneWithin(60_000, () => Promise.resolve(true))).toBe(true);
    events.stop();
  });

  it('answers no to every question when the engine refuses the subscription', async () => {
    const docker = { getEvents: () => Promise.reject(new Error('refused')) } as unknown as Docker;
    const events = await ContainerEvents.watch(docker, 'c1');
    await events.dieSeen(60_000);
    expect(await events.goneWithin(60_000, () => Promise.resolve(true))).toBe(false);
    expect(events.hasSeenOutsideKill).toBe(false);
    events.stop();
  });
});
