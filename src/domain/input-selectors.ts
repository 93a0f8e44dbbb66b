import { z } from 'zod';

/** Input selectors of an invocation (spec §6.1). */

const DataSelectorFields = {
  query: z.string().nullable().default(null),
  ids: z.array(z.string()).nullable().default(null),
  names: z.array(z.string()).nullable().default(null),
  dataset_id: z.string().nullable().default(null),
};

const hasAny = (value: Record<string, unknown>, keys: readonly string[]): boolean =>
  keys.some((key) => {
    const field = value[key];
    return Array.isArray(field) ? field.length > 0 : Boolean(field);
  });

export const DataSelector = z.object(DataSelectorFields).refine((s) => hasAny(s, ['query', 'ids', 'names']), {
  message: 'a selector needs at least one of query, ids or names',
});
export type DataSelector = z.output<typeof DataSelector>;

export const FileSelector = z
  .object({ ...DataSelectorFields, paths: z.array(z.string()).nullable().default(null) })
  .refine((s) => hasAny(s, ['query', 'ids', 'names', 'paths']), {
    message:
      'a file selector needs at least one of query, ids, names or paths (dataset_id alone is not enough)',
  });
export type FileSelector = z.output<typeof FileSelector>;

const oneOrMany = <T extends z.ZodType>(schema: T) =>
  z
    .union([schema, z.array(schema)])
    .nullable()
    .default(null)
    .transform((value) => (value === null ? null : Array.isArray(value) ? value : [value]));

export const InvocationInput = z
  .object({ files: oneOrMany(FileSelector), topics: oneOrMany(DataSelector) })
  .refine((input) => Boolean(input.files?.length) || Boolean(input.topics?.length), {
    message: 'an invocation input needs files or topics',
  });
export type InvocationInput = z.output<typeof InvocationInput>;
