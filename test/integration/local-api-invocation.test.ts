import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { LocalRunCredentials } from '../../src/app/invocation-credentials.js';
import { type LocalApi, LocalInvocationView, startLocalApi } from '../../src/app/local-api.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { tempDir } from '../support/temp-dirs.js';

const apis: LocalApi[] = [];
afterEach(async () => {
  for (const api of apis.splice(0)) await api.close();
});

/** `run`'s API on loopback, knowing one invocation of `og_runner`, and the credentials that key it. */
async function runApi() {
  const storeDir = await tempDir('local-api-invocation');
  const settings = WorkerSettings.parse({ storeDir });
  const request = newInvocationRequest({
    action: { image: 'python:3', config: { name: 'api-caller' } },
    org_id: 'og_runner',
  });
  const view = new LocalInvocationView('iv_run', request);
  const credentials = new LocalRunCredentials();
  const api = await startLocalApi({
    store: new LocalDataStore(storeDir),
    orgId: 'og_runner',
    host: '127.0.0.1',
    authenticator: credentials,
    settings,
    logger: pino({ level: 'silent' }),
    invocation: view,
  });
  apis.push(api);
  return { api, view, credentials };
}

async function getInvocation(api: LocalApi, id: string, token: string) {
  const response = await fetch(`${api.url}/v1/actions/invocations/${id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data?: { invocation_id: string; last_status: number; status: { status: number }[] };
      error?: { error_code: string };
    },
  };
}

describe("run's in-process API: the run's invocation (I1, the SDK's context.invocation)", () => {
  it('answers the run’s invocation with its statuses as they happen, to the run’s token only', async () => {
    const { api, view, credentials } = await runApi();
    const issued = await credentials.issue({ invocationId: 'iv_run', orgId: 'og_runner' });

    const queued = await getInvocation(api, 'iv_run', issued.token);
    expect(queued.status).toBe(200);
    expect(queued.body.data).toMatchObject({ invocation_id: 'iv_run', last_status: InvocationStatus.Queued });

    view.record(InvocationStatus.Downloading, null);
    view.record(InvocationStatus.Processing, 'running python:3');
    const running = await getInvocation(api, 'iv_run', issued.token);
    expect(running.body.data?.last_status).toBe(InvocationStatus.Processing);
    expect(running.body.data?.status.map((entry) => entry.status)).toEqual([
      InvocationStatus.Queued,
      InvocationStatus.Downloading,
      InvocationStatus.Processing,
    ]);

    // Any other id is not there.
    const other = await getInvocation(api, 'iv_other', issued.token);
    expect(other).toMatchObject({ status: 404, body: { error: { error_code: 'RobotoNotFoundException' } } });
    // No token, or a token that is not the run's: refused.
    expect((await getInvocation(api, 'iv_run', 'awt_not_the_token')).status).toBe(401);
    // Over: refused.
    credentials.finish();
    expect((await getInvocation(api, 'iv_run', issued.token)).status).toBe(401);
  });

  it('answers a token of another org exactly as a missing invocation', async () => {
    const { api, credentials } = await runApi();
    const foreign = await credentials.issue({ invocationId: 'iv_run', orgId: 'og_someone_else' });
    const answer = await getInvocation(api, 'iv_run', foreign.token);
    expect(answer).toMatchObject({ status: 404, body: { error: { error_code: 'RobotoNotFoundException' } } });
  });
});
