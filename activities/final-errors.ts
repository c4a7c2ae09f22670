import { ApplicationFailure } from '@temporalio/activity';

/**
 * PostgreSQL errors that a retry cannot cure: data exceptions (class 22: invalid text, values out
 * of range), integrity violations (23) and statement errors (42). Retrying them only keeps a run
 * from its terminal path, so they fail the step at once; anything else (a lost connection, a
 * deadlock, a restart) is retried within the step's bounded schedule.
 */
const FINAL_SQLSTATE = /^(22|23|42)/;

export async function failFastOnDataErrors<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && FINAL_SQLSTATE.test(code)) {
      throw ApplicationFailure.create({ message: (err as Error).message, type: `database_${code}`, nonRetryable: true, cause: err as Error });
    }
    throw err;
  }
}
