import { FakeContainerRuntime } from '../support/fake-container-runtime.js';
import { testContainerSpec } from '../support/container-spec.js';
import { describeContainerRuntimeContract } from './container-runtime.contract.js';

const IMAGE = 'fake/contract:1';
let sequence = 0;

describeContainerRuntimeContract('FakeContainerRuntime', () => {
  const runtime = new FakeContainerRuntime([IMAGE]);
  return Promise.resolve({
    runtime,
    missingImage: 'fake/missing:1',
    patienceMs: 2_000,
    containerFor: (program) => {
      sequence += 1;
      const name = `fake-contract-${sequence}`;
      switch (program.kind) {
        case 'writes':
          runtime.script(name, {
            output: [
              ...(program.stdout ? [{ stream: 'stdout' as const, text: program.stdout }] : []),
              ...(program.stderr ? [{ stream: 'stderr' as const, text: program.stderr }] : []),
            ],
            exitCode: program.exitCode,
          });
          break;
        case 'runs-until-signalled':
          runtime.script(name, {
            output: [{ stream: 'stdout', text: program.ready }],
            runMs: Infinity,
            ignores: program.ignoresTerm ? ['SIGTERM'] : [],
          });
          break;
        case 'exceeds-memory':
          runtime.script(name, { output: [{ stream: 'stdout', text: 'filling memory\n' }], oom: true });
          break;
      }
      return Promise.resolve(testContainerSpec(name, IMAGE));
    },
  });
});
