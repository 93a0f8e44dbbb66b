import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestQueue } from '../support/daemon-harness.js';
import { passwordProtectedDatabase as passwordProtectedDatabaseOf } from '../support/password-postgres.js';
import { PrivatePostgres } from '../support/private-postgres.js';

// What the deployment files rely on (deploy/kubernetes, docker/compose.yaml): the workers get the URL of
// the metadata database without a password and the password as PGPASSWORD; and a worker whose database
// does not answer fails its start-up before it serves anything, so Kubernetes restarts it and never
// counts it ready.

const PASSWORD = 'deploy-s3cret';

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await server.stop();
});

const passwordProtectedDatabase = () => passwordProtectedDatabaseOf(server, PASSWORD);

describe("the workers' metadata database, as the deployment files wire it", () => {
  const queue = useTestQueue();

  it('is reached with a URL without password and the password as PGPASSWORD', async () => {
    const url = await passwordProtectedDatabase();
    const listed = await queue().cli(['datasets', 'list'], {
      ACTION_WORKER_STORE_DATABASE: url,
      PGPASSWORD: PASSWORD,
    });
    expect(listed.exitCode, listed.all).toBe(0);
    // The password is what let it in: with another, the server refuses.
    const refused = await queue().cli(['datasets', 'list'], {
      ACTION_WORKER_STORE_DATABASE: url,
      PGPASSWORD: 'not-the-password',
    });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('password authentication failed for user "action_worker"');
  });

  it('ends at once, with the reason, when the server asks for a password and none is given', async () => {
    const url = await passwordProtectedDatabase();
    // pg fails on its own side ("client password must be a string") and used to leave the connection
    // open until the server's login timeout (60 s): the command printed its error, then hung.
    const started = Date.now();
    const refused = await queue().cli(['datasets', 'list'], {
      ACTION_WORKER_STORE_DATABASE: url,
      PGPASSWORD: '',
    });
    const seconds = (Date.now() - started) / 1000;
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('could not reach the PostgreSQL metadata database');
    // Far below the server's 60 s, whatever the machine's load.
    expect(seconds, refused.all).toBeLessThan(30);
  });

  it('fails the daemon’s start-up before it serves health or readiness when the database does not answer', async () => {
    // Nothing listens on port 1 of loopback: the server is not up yet.
    const daemon = queue().startDaemon({
      ACTION_WORKER_STORE_DATABASE: 'postgres://action_worker@127.0.0.1:1/action_worker',
      PGPASSWORD: PASSWORD,
    });
    const exited = await daemon.exited;
    expect(exited.exitCode, daemon.dump()).not.toBe(0);
    expect(daemon.dump()).toContain('could not reach the PostgreSQL metadata database');
    expect(daemon.lines.map((line) => line.msg)).not.toContain('http.listening');
    expect(daemon.lines.map((line) => line.msg)).not.toContain('daemon.started');
    expect(daemon.dump()).not.toContain(PASSWORD);
  });
});
