import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ProgressReport, RunState, SessionState, TurnGrant } from './types';

/** Messages of the run workflow, shared by the workflow and its callers. */
export const stopSignal = defineSignal<[{ reason?: string }?]>('stop');
export const progressSignal = defineSignal<[ProgressReport]>('progress');
export const statusQuery = defineQuery<RunState>('status');

export const RUN_WORKFLOW_TYPE = 'runWorkflow';

/** Session workflow messages. */
/** A request's credits are reserved: it joins the queue in admission (`seq`) order. */
export const requestReadySignal = defineSignal<[{ runId: string; seq: number }]>('requestReady');
export const requestFinishedSignal = defineSignal<[{ runId: string; status: string }]>('requestFinished');
export const closeSessionSignal = defineSignal('closeSession');
export const sessionStateQuery = defineQuery<SessionState>('sessionState');
/** Sent by a session to its request's run when the run may start. */
export const turnSignal = defineSignal<[TurnGrant]>('turn');

export const SESSION_WORKFLOW_TYPE = 'sessionWorkflow';
