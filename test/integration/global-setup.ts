import { execa } from 'execa';
import { BASE_IMAGE, projectRoot } from '../support/paths.js';
import { CLI_TEST_KEY_PREFIX_STEM, TEST_REDIS_URL, deleteKeysWithStem } from '../support/redis-stores.js';

/**
 * The integration suite runs against the real Docker engine with the locally built base image and a real
 * redis-server, all made available by scripts/provision.sh, and runs the built CLI, which it compiles first.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const docker = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false });
  if (docker.exitCode !== 0) {
    throw new Error(
      `integration tests need a running Docker engine (run scripts/provision.sh): ${docker.stderr}`,
    );
  }
  const redis = await execa('redis-cli', ['ping'], { reject: false });
  if (redis.stdout.trim() !== 'PONG') {
    throw new Error(
      `integration tests need a running redis-server (run scripts/provision.sh): ${redis.stderr}`,
    );
  }
  const image = await execa('docker', ['image', 'inspect', BASE_IMAGE], { reject: false });
  if (image.exitCode !== 0)
    throw new Error(`integration tests need ${BASE_IMAGE} (run scripts/provision.sh)`);
  // The CLI the tests run is the bundle (bin/action-worker.js imports dist/bundle/); typechecking is the
  // test script's own step.
  await execa('node', ['scripts/bundle.js'], { cwd: projectRoot, stdio: 'inherit' });
  // Teardown: the Redis keys the CLI under test wrote under the tests' prefix (harness runCli).
  return () => deleteKeysWithStem(TEST_REDIS_URL, CLI_TEST_KEY_PREFIX_STEM);
}
