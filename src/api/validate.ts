import type { z } from 'zod';
import { problems } from './problem';

/** Parses input at the edge; any mismatch is a 400 problem listing every field at fault. */
export function validate<S extends z.ZodTypeAny>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw problems.validation(
      result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
    );
  }
  return result.data;
}
