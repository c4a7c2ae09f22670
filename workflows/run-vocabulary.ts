/**
 * The run's vocabulary, defined once: its statuses, which of them are terminal or active, the
 * "stopping wins until terminal" rule, and the search attributes operators filter runs by.
 * Types and constants only (no node imports): this file is bundled into the workflow sandbox and
 * shared by the API, the database layer, the activities and the tests.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RUN_STATUSES = ['queued', 'preparing', 'running', 'stopping', 'succeeded', 'failed', 'stopped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

const TERMINAL = ['succeeded', 'failed', 'stopped'] as const satisfies readonly RunStatus[];
const ACTIVE = ['queued', 'preparing', 'running', 'stopping'] as const satisfies readonly RunStatus[];
export type TerminalStatus = (typeof TERMINAL)[number];
export type ActiveStatus = (typeof ACTIVE)[number];

/** Typed as arrays, not tuples, so that `.includes(someStatus)` and SQL `in (…)` take them. */
export const TERMINAL_STATUSES: readonly TerminalStatus[] = TERMINAL;
export const ACTIVE_STATUSES: readonly ActiveStatus[] = ACTIVE;

/** Whether a run in this status has ended (for any string, e.g. a status read from a row). */
export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/**
 * The status a run shows when it moves to `next` while it reads `current`: once a run is
 * stopping it reads `stopping` until it reaches a terminal status.
 */
export function shownStatus(current: RunStatus, next: RunStatus): RunStatus {
  return current === 'stopping' && !isTerminal(next) ? 'stopping' : next;
}

/** Custom search attributes (Keyword), by name: registered on servers and set by workflows. */
export const SEARCH_ATTRIBUTE_NAMES = { account: 'RunwayAccount', status: 'RunwayStatus', user: 'RunwayUser' } as const;
export const RUNWAY_SEARCH_ATTRIBUTES = [SEARCH_ATTRIBUTE_NAMES.account, SEARCH_ATTRIBUTE_NAMES.status, SEARCH_ATTRIBUTE_NAMES.user] as const;
export const RUNWAY_ACCOUNT = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.account, SearchAttributeType.KEYWORD);
export const RUNWAY_STATUS = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.status, SearchAttributeType.KEYWORD);
/** The end user a run or session serves; set at start, absent when it serves none. */
export const RUNWAY_USER = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.user, SearchAttributeType.KEYWORD);
