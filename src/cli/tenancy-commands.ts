import type { Command } from '@commander-js/extra-typings';
import { cliSettings } from './settings.js';
import type { TenancyStore } from '../ports/tenancy.js';

/** The tenancy use cases and the Redis client: loaded only when an orgs or tokens command runs. */
async function withTenancy<T>(
  use: (store: TenancyStore, app: typeof import('../app/tenancy.js')) => Promise<T>,
): Promise<T> {
  const [app, settings] = await Promise.all([import('../app/tenancy.js'), cliSettings()]);
  return app.usingTenancy(settings, (store) => use(store, app));
}

export function registerOrgsCommand(program: Command): void {
  const orgs = program.command('orgs').description('The orgs the API serves (tenants).');

  orgs
    .command('create')
    .description('Create an org and print its id.')
    .requiredOption('--name <NAME>', "the org's name")
    .option('--json', 'print the record as JSON', false)
    .action(async (options) => {
      await withTenancy(async (store, app) => {
        const org = await app.createOrg(store, options.name);
        console.log(options.json ? JSON.stringify(org, null, 2) : org.org_id);
      });
    });

  orgs
    .command('list')
    .description('Every org, oldest first.')
    .option('--json', 'print the records as JSON', false)
    .action(async (options) => {
      await withTenancy(async (store) => {
        const records = await store.listOrgs();
        if (options.json) {
          console.log(JSON.stringify(records, null, 2));
          return;
        }
        for (const org of records) console.log([org.org_id, org.created, org.name].join('  '));
      });
    });
}

export function registerTokensCommand(program: Command): void {
  const tokens = program.command('tokens').description("API tokens: an org's keys to the API.");

  tokens
    .command('create')
    .description('Create a token for an org and print it, once: only its hash is kept.')
    .requiredOption('--org <ID>', 'the org the token acts for (og_…)')
    .option('--name <NAME>', 'what the token is for', '')
    .option('--expires <WHEN>', 'a duration from now (e.g. 90d, 12h) or a date (2027-01-31, UTC)')
    .action(async (options) => {
      await withTenancy(async (store, app) => {
        const { record, token } = await app.createToken(store, {
          orgId: options.org,
          name: options.name,
          ...(options.expires === undefined ? {} : { expires: options.expires }),
        });
        process.stderr.write(
          `action-worker: token ${record.token_id} for ${record.org_id}: shown once, store it now (only its hash is kept)\n`,
        );
        console.log(token);
      });
    });

  tokens
    .command('list')
    .description('Tokens (never their secrets), oldest first.')
    .option('--org <ID>', "only this org's")
    .option('--json', 'print the records as JSON', false)
    .action(async (options) => {
      await withTenancy(async (store, app) => {
        const records = await app.listTokens(store, options.org);
        if (options.json) {
          console.log(JSON.stringify(records, null, 2));
          return;
        }
        for (const token of records) {
          const state =
            token.revoked !== null
              ? `revoked ${token.revoked}`
              : token.expires !== null
                ? `expires ${token.expires}`
                : 'active';
          const used = token.last_used === null ? 'never used' : `used ${token.last_used}`;
          console.log([token.token_id, token.org_id, token.created, state, used, token.name].join('  '));
        }
      });
    });

  tokens
    .command('revoke')
    .description('Revoke a token: it authenticates no more (at once, on every server).')
    .argument('<TOKEN_ID>', 'the id tokens list shows (tk_…)')
    .action(async (tokenId) => {
      await withTenancy(async (store, app) => {
        const record = await app.revokeToken(store, tokenId);
        console.log(`${record.token_id} revoked ${record.revoked ?? ''}`);
      });
    });
}
