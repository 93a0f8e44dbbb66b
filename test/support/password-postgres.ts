import { execa } from 'execa';
import { eventually } from './harness.js';
import type { PrivatePostgres } from './private-postgres.js';

/**
 * A database of `server` that only the `action_worker` role may use, with `password`, as the deployment
 * files wire it (deploy/kubernetes/secret.yaml, docker/compose.yaml): loopback connections of other roles
 * than the administrator's need one (the private cluster trusts every loopback connection at first).
 * Returns its URL, without the password.
 */
export async function passwordProtectedDatabase(server: PrivatePostgres, password: string): Promise<string> {
  const url = await server.database();
  const name = new URL(url).pathname.slice(1);
  const admin = (sql: string) => execa('psql', [server.adminUrl, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql]);
  // One role for the cluster, made by the first test that needs it.
  const role = await admin("SELECT 1 FROM pg_roles WHERE rolname = 'action_worker'");
  if (role.stdout.trim() === '') await admin(`CREATE ROLE action_worker LOGIN PASSWORD '${password}'`);
  await admin(`ALTER DATABASE ${name} OWNER TO action_worker`);
  const hbaFile = (await admin('SHOW hba_file')).stdout.trim();
  await execa('sh', [
    '-c',
    `printf '%s\\n' 'local all all trust' 'host all postgres 127.0.0.1/32 trust' 'host all all 127.0.0.1/32 scram-sha-256' > "$1"`,
    'sh',
    hbaFile,
  ]);
  await admin('SELECT pg_reload_conf()');
  const workerUrl = `postgres://action_worker@127.0.0.1:${String(server.port)}/${name}`;
  // The reload is asynchronous: wait until a connection without the password is refused.
  await eventually(
    async () => {
      const result = await execa('psql', [workerUrl, '-w', '-qAtc', 'SELECT 1'], {
        reject: false,
        env: { PGPASSWORD: '' },
      });
      return result.exitCode !== 0 ? true : undefined;
    },
    30_000,
    'the server to ask action_worker for a password',
  );
  return workerUrl;
}
