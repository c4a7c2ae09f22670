import type { WorkspaceSpec } from '../db/schema';
import type { RunToolRequest } from './agent-request';

/**
 * What a run is asked to do, as the domain needs it (defaults already applied). The API's zod
 * schema produces it; src/api/schemas.ts fails to compile if the two drift apart.
 */
export interface CreateRunRequest {
  prompt: string;
  model: string;
  maxTokens: number;
  workspace?: WorkspaceSpec;
  /** Used for this run only; sealed before it is stored. */
  secrets?: { apiKey?: string };
  metadata: Record<string, unknown>;
  /** Metadata a scoped token's holder wrote (kept apart from the tenant's `metadata`). */
  userMetadata?: Record<string, unknown>;
  sessionId?: string;
  /** The end user the run serves (a session's request takes the session's). */
  user?: string;
  /** An agent run's tools (absent: a plain run) and its limit of model turns (default 20). */
  tools?: RunToolRequest[];
  maxSteps?: number;
  /** The run's spend cap, reserved up front (default: what `maxTokens` costs, per turn for an agent run). */
  maxCredits?: number;
}
