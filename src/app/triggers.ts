import { RedisTriggerStore } from '../adapters/redis/redis-trigger-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { UnknownOrgError } from '../domain/api-token.js';
import { UsageError } from '../domain/errors.js';
import type { TriggerRecord } from '../domain/trigger-record.js';
import {
  TriggerNotFoundError,
  checkTriggerAction,
  newTrigger,
  updateRetargets,
  updatedTrigger,
} from '../domain/trigger-versions.js';
import type { ActionLookup } from '../ports/action-store.js';
import type { TenancyStore } from '../ports/tenancy.js';
import type { TriggerStore } from '../ports/trigger-store.js';
import { openActionStore } from './actions.js';
import { redisStoreOptions, usingRedisStore } from './control-plane.js';

/** Triggers as the settings locate them: beside the invocation records and the actions, under their prefix. */
export function openTriggerStore(
  settings: WorkerSettings,
  options: Parameters<typeof redisStoreOptions>[1] = {},
): RedisTriggerStore {
  return new RedisTriggerStore(redisStoreOptions(settings, options));
}

/**
 * Runs `use` against the trigger store and the action store (where triggers' actions are checked), failing
 * fast when Redis does not answer (one clear error), and closes both connections whatever happens.
 */
export async function usingTriggers<T>(
  settings: WorkerSettings,
  use: (triggers: TriggerStore, actions: ActionLookup) => Promise<T>,
): Promise<T> {
  return usingRedisStore(settings, openTriggerStore(settings), (triggers) =>
    usingRedisStore(settings, openActionStore(settings), (actions) => use(triggers, actions)),
  );
}

/** Who the CLI's triggers are by: it writes straight to Redis, with no token. */
export const CLI_AUTHOR = 'action-worker-cli';

/** A trigger file (the CreateTriggerRequest body of spec T1, or an UpdateTriggerRequest) as JSON. */
export function parseTriggerFile(text: string, subject: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${subject} is not JSON: ${(error as Error).message}`, 'E_INVALID_INPUT', error);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${subject} must hold a JSON object`, 'E_INVALID_INPUT');
  }
  return parsed;
}

/** `triggers create --from-file`: the file's trigger in the org, its action checked as the API does. */
export async function createTriggerFromFile(
  triggers: TriggerStore,
  actions: ActionLookup,
  orgs: Pick<TenancyStore, 'getOrg'>,
  options: { orgId: string; text: string; subject: string; now?: Date },
): Promise<TriggerRecord> {
  const request = parseTriggerFile(options.text, options.subject);
  if ((await orgs.getOrg(options.orgId)) === undefined) throw new UnknownOrgError(options.orgId);
  const record = newTrigger(request, options.orgId, { userId: CLI_AUTHOR, now: options.now ?? new Date() });
  await checkTriggerAction(actions, record);
  return triggers.createTrigger(record);
}

/**
 * `triggers update NAME --from-file` (an UpdateTriggerRequest: only the keys present change, null clears)
 * and `enable`/`disable` (`{"enabled": …}`).
 */
export async function updateTrigger(
  triggers: TriggerStore,
  actions: ActionLookup,
  options: { orgId: string; name: string; request: unknown; now?: Date },
): Promise<TriggerRecord> {
  const author = { userId: CLI_AUTHOR, now: options.now ?? new Date() };
  const record = await triggers.updateTrigger(options.orgId, options.name, async (current) => {
    const next = updatedTrigger(current, options.request, author);
    if (updateRetargets(options.request)) await checkTriggerAction(actions, next);
    return next;
  });
  if (record === undefined) throw new TriggerNotFoundError(options.orgId, options.name);
  return record;
}

/** `triggers show`. */
export async function showTrigger(
  triggers: TriggerStore,
  orgId: string,
  name: string,
): Promise<TriggerRecord> {
  const record = await triggers.getTrigger(orgId, name);
  if (record === undefined) throw new TriggerNotFoundError(orgId, name);
  return record;
}

/** `triggers list`: every trigger of the org, by name, all pages. */
export async function listTriggers(triggers: TriggerStore, orgId: string): Promise<TriggerRecord[]> {
  const records: TriggerRecord[] = [];
  let after: string | null = null;
  do {
    const page = await triggers.queryTriggers(orgId, { sortBy: 'name', sortDirection: 'ASC', after });
    records.push(...page.items);
    after = page.nextToken;
  } while (after !== null);
  return records;
}

/** `triggers delete`. */
export async function deleteTrigger(triggers: TriggerStore, orgId: string, name: string): Promise<void> {
  if (!(await triggers.deleteTrigger(orgId, name))) throw new TriggerNotFoundError(orgId, name);
}
