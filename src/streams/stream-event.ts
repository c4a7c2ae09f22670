import type { RunEventRow } from '../db/schema';

/**
 * A run event on its way to clients. `json` is the event's data serialized once, so a fan-out to
 * many connections does not stringify the same row again for each of them.
 */
export interface StreamEvent {
  /** The persisted event's id (1, 2, 3… per run); null for volatile events, which are never stored. */
  id: number | null;
  type: string;
  json: string;
}

/** A persisted event: always has its id. */
export interface PersistedStreamEvent extends StreamEvent {
  id: number;
}

export function fromRunEventRow(row: RunEventRow): PersistedStreamEvent {
  return { id: Number(row.id), type: row.type, json: JSON.stringify(row.data) };
}
