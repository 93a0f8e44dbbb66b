import { RedisActionStore } from '../adapters/redis/redis-action-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { parseActionConfigJson } from '../domain/action-config.js';
import type { ActionRecord } from '../domain/action-record.js';
import { ActionNotFoundError, newAction, nextVersion } from '../domain/action-versions.js';
import { UnknownOrgError } from '../domain/api-token.js';
import { UsageError } from '../domain/errors.js';
import type { ActionStore } from '../ports/action-store.js';
import type { TenancyStore } from '../ports/tenancy.js';
import { redisStoreOptions, usingRedisStore } from './control-plane.js';

/** Registered actions as the settings locate them: beside the invocation records, under their prefix. */
export function openActionStore(
  settings: WorkerSettings,
  options: Parameters<typeof redisStoreOptions>[1] = {},
): RedisActionStore {
  return new RedisActionStore(redisStoreOptions(settings, options));
}

/** Runs `use` against the action store, failing fast when Redis does not answer, and closes it. */
export async function usingActions<T>(
  settings: WorkerSettings,
  use: (store: ActionStore) => Promise<T>,
): Promise<T> {
  return usingRedisStore(settings, openActionStore(settings), use);
}

/** Who the CLI's versions are by: it writes straight to Redis, with no token. */
export const CLI_AUTHOR = 'action-worker-cli';

/**
 * An action.json (spec §12.1) read for registering: `image_uri` (or `--image`, which wins) becomes `uri`;
 * `docker_config` is refused, since we do not build images.
 */
export function actionFileToRequest(text: string, image: string | undefined, subject: string) {
  const config = parseActionConfigJson(text, subject);
  if (config.docker_config) {
    throw new UsageError(
      `${subject}: docker_config asks for an image build, which action-worker does not do: build and push the image, then give it as image_uri or --image`,
      'E_INVALID_ACTION_CONFIG',
    );
  }
  const uri = image ?? config.image_uri ?? null;
  return {
    name: config.name,
    description: config.description ?? null,
    short_description: config.short_description ?? null,
    uri,
    inherits: config.inherits ?? null,
    compute_requirements: config.compute_requirements ?? null,
    container_parameters: config.container_parameters ?? null,
    parameters: config.parameters,
    requires_downloaded_inputs: config.requires_downloaded_inputs ?? null,
    metadata: config.metadata,
    tags: config.tags,
    timeout: config.timeout ?? null,
  };
}

/** An org must exist before actions are registered in it (a mistyped id is an error, not a new tenant). */
async function assertOrg(orgs: Pick<TenancyStore, 'getOrg'>, orgId: string): Promise<void> {
  if ((await orgs.getOrg(orgId)) === undefined) throw new UnknownOrgError(orgId);
}

/** `actions create --from-file`: version 1 of the file's action in the org. */
export async function createActionFromFile(
  store: ActionStore,
  orgs: Pick<TenancyStore, 'getOrg'>,
  options: { orgId: string; text: string; image?: string; subject: string; now?: Date },
): Promise<ActionRecord> {
  const request = actionFileToRequest(options.text, options.image, options.subject);
  await assertOrg(orgs, options.orgId);
  return store.createAction(
    newAction(request, options.orgId, { userId: CLI_AUTHOR, now: options.now ?? new Date() }),
  );
}

/**
 * `actions update NAME --from-file`: a new version that is what the file says, as the roboto CLI's
 * create-then-update flow sends it (spec §5.2): every field the file omits is cleared, metadata and tags
 * replaced whole, parameters replaced by the file's (`requires_downloaded_inputs` only when the file sets
 * it: an update cannot clear it).
 */
export async function updateActionFromFile(
  store: ActionStore,
  options: { orgId: string; name: string; text: string; image?: string; subject: string; now?: Date },
): Promise<ActionRecord> {
  const file = actionFileToRequest(options.text, options.image, options.subject);
  if (file.name !== options.name) {
    throw new UsageError(`${options.subject} names action ${file.name}, not ${options.name}`, 'E_USAGE');
  }
  const author = { userId: CLI_AUTHOR, now: options.now ?? new Date() };
  const record = await store.updateAction(options.orgId, options.name, (latest) =>
    nextVersion(
      latest,
      {
        description: file.description,
        short_description: file.short_description,
        uri: file.uri,
        inherits: file.inherits,
        compute_requirements: file.compute_requirements,
        container_parameters: file.container_parameters,
        timeout: file.timeout,
        ...(file.requires_downloaded_inputs === null
          ? {}
          : { requires_downloaded_inputs: file.requires_downloaded_inputs }),
        metadata_changeset: { put_fields: file.metadata, put_tags: file.tags, replace_all: true },
        parameter_changeset: {
          remove_parameters: latest.parameters.map((parameter) => parameter.name),
          put_parameters: file.parameters,
        },
      },
      author,
    ),
  );
  if (record === undefined) throw new ActionNotFoundError(options.orgId, options.name);
  return record;
}

/** `actions show`: the latest version, or the one with that digest. */
export async function showAction(
  store: ActionStore,
  options: { orgId: string; name: string; digest?: string },
): Promise<ActionRecord> {
  const record = await store.getAction(options.orgId, options.name, options.digest);
  if (record === undefined) throw new ActionNotFoundError(options.orgId, options.name, options.digest);
  return record;
}

/** `actions list`: the latest version of every action of the org, by name, all pages. */
export async function listActions(store: ActionStore, orgId: string): Promise<ActionRecord[]> {
  const records: ActionRecord[] = [];
  let after: string | null = null;
  do {
    const page = await store.queryActions({ orgId }, { sortBy: 'name', sortDirection: 'ASC', after });
    records.push(...page.items);
    after = page.nextToken;
  } while (after !== null);
  return records;
}

/** `actions delete`: every version. */
export async function deleteAction(store: ActionStore, orgId: string, name: string): Promise<void> {
  if (!(await store.deleteAction(orgId, name))) throw new ActionNotFoundError(orgId, name);
}
