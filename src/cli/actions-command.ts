import { readFile } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../domain/errors.js';
import type { ActionStore } from '../ports/action-store.js';
import type { TenancyStore } from '../ports/tenancy.js';
import { endpointOption, remoteRecordsAt } from './endpoint.js';
import { cliSettings } from './settings.js';

/** The action use cases and the Redis clients: loaded only when an actions command runs. */
async function withActions<T>(
  use: (
    store: ActionStore,
    app: typeof import('../app/actions.js'),
    orgs: Pick<TenancyStore, 'getOrg'>,
  ) => Promise<T>,
): Promise<T> {
  const [app, tenancy, settings] = await Promise.all([
    import('../app/actions.js'),
    import('../app/tenancy.js'),
    cliSettings(),
  ]);
  return app.usingActions(settings, (store) =>
    tenancy.usingTenancy(settings, (orgs) => use(store, app, orgs)),
  );
}

async function readActionFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${file}: ${(error as Error).message}`,
      'E_INVALID_ACTION_CONFIG',
      error,
    );
  }
}

const print = (value: unknown): void => {
  console.log(JSON.stringify(value, null, 2));
};

export function registerActionsCommand(program: Command): void {
  const actions = program
    .command('actions')
    .description('Registered actions, every version, in Redis (what `serve` answers under /v1/actions).');

  actions
    .command('create')
    .description('Register an action from its action.json (image_uri, or --image) and print its record.')
    .requiredOption('--from-file <FILE>', 'the action.json')
    .option('--image <REF>', "the action's image (wins over image_uri)")
    .requiredOption('--org <ID>', 'the org the action belongs to (og_…)')
    .action(async (options) => {
      const text = await readActionFile(options.fromFile);
      await withActions(async (store, app, orgs) => {
        print(
          await app.createActionFromFile(store, orgs, {
            orgId: options.org,
            text,
            subject: options.fromFile,
            ...(options.image === undefined ? {} : { image: options.image }),
          }),
        );
      });
    });

  actions
    .command('update')
    .description('A new version of an action that is what its action.json says; print the new record.')
    .argument('<NAME>', "the action's name")
    .requiredOption('--from-file <FILE>', 'the action.json')
    .option('--image <REF>', "the action's image (wins over image_uri)")
    .requiredOption('--org <ID>', 'the org the action belongs to (og_…)')
    .action(async (name, options) => {
      const text = await readActionFile(options.fromFile);
      await withActions(async (store, app) => {
        print(
          await app.updateActionFromFile(store, {
            orgId: options.org,
            name,
            text,
            subject: options.fromFile,
            ...(options.image === undefined ? {} : { image: options.image }),
          }),
        );
      });
    });

  actions
    .command('list')
    .description("The latest version of each of an org's actions, by name, as JSON.")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .addOption(endpointOption())
    .action(async (options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        print(await remote.listActions(options.org));
        return;
      }
      await withActions(async (store, app) => {
        print(await app.listActions(store, options.org));
      });
    });

  actions
    .command('show')
    .description("An action's latest version, or the one with --digest, as JSON.")
    .argument('<NAME>', "the action's name")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .option('--digest <DIGEST>', 'a version')
    .addOption(endpointOption())
    .action(async (name, options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        print(await remote.showAction(options.org, name, options.digest));
        return;
      }
      await withActions(async (store, app) => {
        print(
          await app.showAction(store, {
            orgId: options.org,
            name,
            ...(options.digest === undefined ? {} : { digest: options.digest }),
          }),
        );
      });
    });

  actions
    .command('delete')
    .description('Delete an action and all its versions.')
    .argument('<NAME>', "the action's name")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .action(async (name, options) => {
      await withActions(async (store, app) => {
        await app.deleteAction(store, options.org, name);
        console.log(`deleted action ${name} of ${options.org}`);
      });
    });
}
