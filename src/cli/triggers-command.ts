import { readFile } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../domain/errors.js';
import type { ActionLookup } from '../ports/action-store.js';
import type { TenancyStore } from '../ports/tenancy.js';
import type { TriggerStore } from '../ports/trigger-store.js';
import { cliSettings } from './settings.js';

/** The trigger use cases and the Redis clients: loaded only when a triggers command runs. */
async function withTriggers<T>(
  use: (
    triggers: TriggerStore,
    actions: ActionLookup,
    app: typeof import('../app/triggers.js'),
    orgs: Pick<TenancyStore, 'getOrg'>,
  ) => Promise<T>,
): Promise<T> {
  const [app, tenancy, settings] = await Promise.all([
    import('../app/triggers.js'),
    import('../app/tenancy.js'),
    cliSettings(),
  ]);
  return app.usingTriggers(settings, (triggers, actions) =>
    tenancy.usingTenancy(settings, (orgs) => use(triggers, actions, app, orgs)),
  );
}

async function readTriggerFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, 'E_INVALID_INPUT', error);
  }
}

const print = (value: unknown): void => {
  console.log(JSON.stringify(value, null, 2));
};

export function registerTriggersCommand(program: Command): void {
  const triggers = program
    .command('triggers')
    .description(
      'Trigger records in Redis (what `serve` answers under /v1/triggers), and their evaluations.',
    );

  triggers
    .command('create')
    .description(
      'Create a trigger from a JSON file (the body of POST /v1/triggers) and print its record; its action ' +
        'must exist and its parameter values be the action parameters.',
    )
    .requiredOption('--from-file <FILE>', 'the trigger JSON (CreateTriggerRequest)')
    .requiredOption('--org <ID>', 'the org the trigger belongs to (og_…)')
    .action(async (options) => {
      const text = await readTriggerFile(options.fromFile);
      await withTriggers(async (store, actions, app, orgs) => {
        print(
          await app.createTriggerFromFile(store, actions, orgs, {
            orgId: options.org,
            text,
            subject: options.fromFile,
          }),
        );
      });
    });

  triggers
    .command('update')
    .description(
      'Update a trigger from a JSON file (the body of PUT /v1/triggers/NAME: only the keys present change, ' +
        'null clears) and print its record.',
    )
    .argument('<NAME>', "the trigger's name")
    .requiredOption('--from-file <FILE>', 'the update JSON (UpdateTriggerRequest)')
    .requiredOption('--org <ID>', 'the org (og_…)')
    .action(async (name, options) => {
      const text = await readTriggerFile(options.fromFile);
      await withTriggers(async (store, actions, app) => {
        const request = app.parseTriggerFile(text, options.fromFile);
        print(await app.updateTrigger(store, actions, { orgId: options.org, name, request }));
      });
    });

  for (const [command, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    triggers
      .command(command)
      .description(`${enabled ? 'Enable' : 'Disable'} a trigger and print its record.`)
      .argument('<NAME>', "the trigger's name")
      .requiredOption('--org <ID>', 'the org (og_…)')
      .action(async (name, options) => {
        await withTriggers(async (store, actions, app) => {
          print(await app.updateTrigger(store, actions, { orgId: options.org, name, request: { enabled } }));
        });
      });
  }

  triggers
    .command('list')
    .description("An org's triggers, by name, as JSON.")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .action(async (options) => {
      await withTriggers(async (store, _actions, app) => {
        print(await app.listTriggers(store, options.org));
      });
    });

  triggers
    .command('show')
    .description('A trigger, as JSON.')
    .argument('<NAME>', "the trigger's name")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .action(async (name, options) => {
      await withTriggers(async (store, _actions, app) => {
        print(await app.showTrigger(store, options.org, name));
      });
    });

  triggers
    .command('evaluations')
    .description(
      'Why a trigger ran or did not: its evaluations, newest first (what GET /v1/triggers/NAME/evaluations ' +
        "answers), or with --dataset every trigger's evaluations of that dataset.",
    )
    .argument('[NAME]', "the trigger's name (or --dataset)")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .option('--dataset <ID>', "every trigger's evaluations of this dataset (ds_…), instead of NAME")
    .option('--limit <N>', 'at most this many evaluations, newest first', '50')
    .option('--json', 'print the evaluation records as a JSON array')
    .action(async (name, options) => {
      if ((name === undefined) === (options.dataset === undefined)) {
        throw new UsageError('give a trigger NAME or --dataset ID (one of them)');
      }
      const limit = Number(options.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) {
        throw new UsageError(`--limit must be a positive integer, not ${JSON.stringify(options.limit)}`);
      }
      const of = name === undefined ? { datasetId: options.dataset ?? '' } : { trigger: name };
      const [evaluationsApp, settings] = await Promise.all([
        import('../app/trigger-evaluations.js'),
        cliSettings(),
      ]);
      await withTriggers(async (store, _actions, _app, orgs) => {
        const records = await evaluationsApp.usingTriggerEvaluations(settings, (evaluations) =>
          evaluationsApp.listTriggerEvaluations(
            { triggers: store, evaluations, orgs },
            { orgId: options.org, of, limit },
          ),
        );
        if (options.json === true) {
          print(records);
        } else if (records.length === 0) {
          console.log('no evaluations');
        } else {
          console.log(records.map((record) => evaluationsApp.describeEvaluation(record, name)).join('\n\n'));
        }
      });
    });

  triggers
    .command('delete')
    .description('Delete a trigger.')
    .argument('<NAME>', "the trigger's name")
    .requiredOption('--org <ID>', 'the org (og_…)')
    .action(async (name, options) => {
      await withTriggers(async (store, _actions, app) => {
        await app.deleteTrigger(store, options.org, name);
        console.log(`deleted trigger ${name} of ${options.org}`);
      });
    });
}
