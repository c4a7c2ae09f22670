import type { Multitask, WorkspaceSpec } from '../db/schema';
import type { CreateRunRequest } from '../runs/requests';

/** A new session, defaults applied (the API's createSessionSchema produces it). */
export interface CreateSessionRequest {
  model: string;
  maxTokens: number;
  /** Budget of earlier turns sent with each request. */
  contextTokens: number;
  workspace?: WorkspaceSpec;
  metadata: Record<string, unknown>;
  /** Metadata a scoped token's holder wrote (kept apart from the tenant's `metadata`). */
  userMetadata?: Record<string, unknown>;
  multitask: Multitask;
  /** The end user the session serves; its requests run as that user. */
  user?: string;
}

/** One request to a session: the run's own fields; the model and workspace come from the session. */
export interface SessionRequestBody {
  prompt: string;
  maxTokens?: number;
  secrets?: CreateRunRequest['secrets'];
  metadata: Record<string, unknown>;
  tools?: CreateRunRequest['tools'];
  maxSteps?: number;
  maxCredits?: number;
}
