import { Option } from '@commander-js/extra-typings';
import type { RemoteRecords } from '../app/remote-records.js';

/**
 * `--endpoint URL` of the read commands: read through an action-worker API instead of Redis. The token is
 * never a flag (it would land in shell history and `ps`): the environment only.
 */
export const endpointOption = () =>
  new Option(
    '--endpoint <URL>',
    'read through this API instead of Redis; token from $ACTION_WORKER_API_TOKEN, else $ROBOTO_API_KEY',
  ).env('ACTION_WORKER_API_ENDPOINT');

/**
 * The API's records at `url`, or undefined without one (no `--endpoint`, or an empty
 * ACTION_WORKER_API_ENDPOINT): the command reads Redis or the store as before. The HTTP client loads only now.
 */
export async function remoteRecordsAt(url: string | undefined): Promise<RemoteRecords | undefined> {
  if (url === undefined || url.trim() === '') return undefined;
  const { remoteRecords } = await import('../app/remote-records.js');
  return remoteRecords(url, process.env);
}
