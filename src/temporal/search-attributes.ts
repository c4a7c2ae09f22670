import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { RUNWAY_SEARCH_ATTRIBUTES } from '../../workflows/run-vocabulary';

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/**
 * Registers the platform's search attributes on servers that do not have them yet (a production
 * cluster; the dev server gets them from its start flags). Safe to call from every process.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...listed.customAttributes, ...listed.systemAttributes };
  const missing = RUNWAY_SEARCH_ATTRIBUTES.filter((name) => !(name in known));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
    });
  } catch (err) {
    // Another process registered them first.
    if ((err as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw err;
  }
}
