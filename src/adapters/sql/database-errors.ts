import type {
  DatabaseConnection,
  DatabaseIntrospector,
  DialectAdapter,
  Driver,
  Kysely,
  Dialect as KyselyDialect,
  QueryCompiler,
  TransactionSettings,
} from 'kysely';
import { ActionWorkerError, InfrastructureError } from '../../domain/errors.js';
import type { Dialect } from './database.js';

/** PostgreSQL SQLSTATEs of a failure that may pass: connection lost, server shutting down, no resources, a serialisation conflict. */
const TRANSIENT_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3]|40001|40P01)$/;
const TRANSIENT_SOCKET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const TRANSIENT_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL)/;

/**
 * A database failure that may pass (the server restarting, a lost connection, a lock held too long, a full
 * disk) as a retryable `E_IO` error, so that the daemon retries the invocation it failed instead of
 * failing it for good as an internal error; any other error as it is.
 */
export function storeError(error: unknown, dialect: Dialect): unknown {
  if (error instanceof ActionWorkerError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const transient =
    typeof code === 'string'
      ? TRANSIENT_SOCKET.has(code) ||
        (dialect === 'postgres' ? TRANSIENT_SQLSTATE.test(code) : TRANSIENT_SQLITE.test(code))
      : // node-postgres reports a lost connection (terminated, no longer queryable, a connect timeout) as a
        // plain Error without a code; errors of programming (TypeError…) are of other classes.
        dialect === 'postgres' && Object.getPrototypeOf(error) === Error.prototype;
  if (!transient) return error;
  const name = dialect === 'postgres' ? 'PostgreSQL' : 'SQLite';
  return new InfrastructureError(`the ${name} metadata database failed: ${error.message}`, 'E_IO', error);
}

/** The error code a database error carries, or the one of the driver's error it wraps. */
export function databaseErrorCode(error: unknown): string | undefined {
  const own = (error as { code?: unknown } | undefined)?.code;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof cause === 'string' && error instanceof InfrastructureError) return cause;
  return typeof own === 'string' ? own : undefined;
}

/** A Kysely dialect whose every query, transaction and connection failure goes through `storeError`. */
export function withStoreErrors(inner: KyselyDialect, dialect: Dialect): KyselyDialect {
  return {
    createAdapter: (): DialectAdapter => inner.createAdapter(),
    createQueryCompiler: (): QueryCompiler => inner.createQueryCompiler(),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely's own signature
    createIntrospector: (db: Kysely<any>): DatabaseIntrospector => inner.createIntrospector(db),
    createDriver: (): Driver => new StoreErrorDriver(inner.createDriver(), dialect),
  };
}

class StoreErrorDriver implements Driver {
  /** The driver's own connection behind each one handed out. */
  private readonly connections = new WeakMap<DatabaseConnection, DatabaseConnection>();

  constructor(
    private readonly driver: Driver,
    private readonly dialect: Dialect,
  ) {}

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw storeError(error, this.dialect);
    }
  }

  private own(connection: DatabaseConnection): DatabaseConnection {
    return this.connections.get(connection) ?? connection;
  }

  init(): Promise<void> {
    return this.guard(() => this.driver.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.guard(() => this.driver.acquireConnection());
    const handed: DatabaseConnection = {
      executeQuery: (query) => this.guard(() => connection.executeQuery(query)),
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
    this.connections.set(handed, connection);
    return handed;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.guard(() => this.driver.beginTransaction(this.own(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.guard(() => this.driver.commitTransaction(this.own(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.guard(() => this.driver.rollbackTransaction(this.own(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.driver.releaseConnection(this.own(connection));
  }

  destroy(): Promise<void> {
    return this.driver.destroy();
  }
}
