import type { InvocationInput } from '../domain/input-selectors.js';
import type { FileRecord, TopicRecord } from '../domain/records.js';

/** A file an input selector matched, with where its bytes can be read on this host. */
export interface ResolvedFile {
  record: FileRecord;
  /** A readable local path holding exactly `record.size` bytes. */
  sourcePath: string;
  /** The content's sha256 when known: the copy staged for the action is checked against it. */
  sha256?: string;
}

export interface ResolvedInput {
  files: ResolvedFile[];
  topics: TopicRecord[];
}

/** Turns input selectors into file and topic records (spec §6.2), of the invocation's org only. */
export interface InputResolver {
  resolve(input: InvocationInput, orgId: string, signal: AbortSignal): Promise<ResolvedInput>;
}
