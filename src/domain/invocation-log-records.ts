import { z } from 'zod';

/** One line of an invocation's log as the SDK reads it (spec §2.2 LogRecord): always a whole line here. */
export const LogRecordWire = z.object({
  partial_id: z.string().nullable(),
  log: z.string(),
  process: z.enum(['firelens_log_router', 'monitor', 'setup', 'action', 'output_handler']),
  timestamp: z.string(),
});
export type LogRecordWire = z.output<typeof LogRecordWire>;

const STORED_LINE = /^(\d{4}-\d\d-\d\dT\S+) (stdout|stderr)([+ ]) (.*)$/s;

/**
 * The lines of a finished invocation's stored log (stages/action-log.ts writes `<ISO time> <stream><' '|'+'>
 * <text>`, a `+` marking a piece of an overlong line): pieces are joined back into their line, so every
 * record is complete (`partial_id` null). A line without a time (the marker of a cut) takes the time before.
 */
export function storedLogRecords(text: string, fallbackTimestamp: string): LogRecordWire[] {
  const records: LogRecordWire[] = [];
  const pending = new Map<string, { log: string; timestamp: string }>();
  let last = fallbackTimestamp;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const match = STORED_LINE.exec(line);
    if (match === null) {
      records.push({ partial_id: null, log: line, process: 'action', timestamp: last });
      continue;
    }
    const [, timestamp = last, stream = 'stdout', mark, body = ''] = match;
    last = timestamp;
    const before = pending.get(stream);
    // A joined line is placed, and timed, where it was completed: times stay in order.
    const joined = { log: (before?.log ?? '') + body, timestamp };
    if (mark === '+') {
      pending.set(stream, joined);
      continue;
    }
    pending.delete(stream);
    records.push({ partial_id: null, log: joined.log, process: 'action', timestamp: joined.timestamp });
  }
  for (const rest of pending.values()) {
    records.push({ partial_id: null, log: rest.log, process: 'action', timestamp: rest.timestamp });
  }
  return records;
}

/**
 * The complete lines of a running invocation's live output (masked chunks as they came, oldest first): a
 * trailing piece without its newline yet is held back until it is whole. The chunks carry no time, so every
 * line is given `timestamp` (the record's latest heartbeat or status).
 */
export function liveLogRecords(chunks: readonly string[], timestamp: string): LogRecordWire[] {
  const lines = chunks.join('').split('\n');
  lines.pop();
  return lines.map((line) => ({
    partial_id: null,
    log: line.endsWith('\r') ? line.slice(0, -1) : line,
    process: 'action',
    timestamp,
  }));
}
