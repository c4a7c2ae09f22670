import { ApplicationFailure } from '@temporalio/activity';
import { WorkspaceError } from '../src/workspaces/errors';

/**
 * What an activity throws for a failed workspace preparation: a WorkspaceError becomes an
 * ApplicationFailure of its code (retried only when the error says another attempt could
 * succeed); anything else is returned unchanged.
 */
export function toWorkspaceFailure(err: unknown): unknown {
  if (err instanceof WorkspaceError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !err.retryable });
  }
  return err;
}
