import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import type { PriceBook } from '../pricing';
import type { ProviderRegistry } from '../providers/registry';
import type { RunEventHub } from '../streams/run-event-hub';

export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
  prices: PriceBook;
  providers: ProviderRegistry;
  secretsKey: Buffer;
  adminToken: string;
  /** The process's live event fan-out (one LISTEN connection); its owner closes it on shutdown. Created by the app when absent. */
  events?: RunEventHub;
}
