import { ApplicationFailure } from '@temporalio/activity';
import { isRefusedStatement } from '../src/db/errors';

/**
 * A statement PostgreSQL refused for its content fails the step at once: retrying it only keeps a
 * run from its terminal path. Anything else is retried within the step's bounded schedule.
 */
export async function failFastOnDataErrors<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (isRefusedStatement(err)) {
      throw ApplicationFailure.create({ message: err.message, type: `database_${err.code}`, nonRetryable: true, cause: err });
    }
    throw err;
  }
}
