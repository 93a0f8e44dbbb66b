import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * The root logger: JSON lines on stderr, or human-readable when stderr is a terminal. The message of a
 * log line is a fixed dotted event name; the data is in the object.
 */
export function createLogger(level: LogLevel, options: { pretty?: boolean } = {}): Logger {
  const isPretty = options.pretty ?? process.stderr.isTTY;
  if (isPretty) {
    return pino(
      { level },
      pretty({
        destination: 2,
        sync: true,
        colorize: process.stderr.isTTY,
        singleLine: true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'pid,hostname,invocationId,attempt',
      }),
    );
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
