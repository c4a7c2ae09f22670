import type { Client } from '@temporalio/client';
import type { Middleware } from 'koa';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import { PriceBook } from '../pricing';
import { createProviderRegistry } from '../providers/create-registry';
import type { ProviderRegistry } from '../providers/registry';
import { launcherFor, type RunLauncher } from '../runs/run-launcher';
import { PgListener } from '../db/pg-listener';
import { RunEventHub } from '../streams/run-event-hub';
import { ScopedTokens } from '../tokens/scoped-tokens';

export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
  prices: PriceBook;
  providers: ProviderRegistry;
  secretsKey: Buffer;
  adminToken: string;
  /** The process's one LISTEN connection, shared by its consumers; its owner closes it on shutdown, after them. Built here only. */
  listener: PgListener;
  /** The process's live event fan-out (on `listener`); its owner closes it on shutdown. Built here only, by apiDepsFor. */
  events: RunEventHub;
  /** Starts admitted runs' workflows, and relays the outbox; its owner starts the relay and closes it. Built here only. */
  launcher: RunLauncher;
  /** Issues and checks scoped tokens (keyed from secretsKey). Built here only. */
  tokens: ScopedTokens;
  /** The request-span middleware when tracing is on (see src/telemetry); absent, requests are not traced. */
  requestSpans?: Middleware;
}

/** The API's dependencies: the process's own parts plus what its configuration derives (prices, providers, its listener, event hub and run launcher). */
export function apiDepsFor(base: Omit<ApiDeps, 'prices' | 'providers' | 'listener' | 'events' | 'launcher' | 'tokens'>): ApiDeps {
  const listener = new PgListener({ connectionString: base.config.databaseUrl, logger: base.logger, applicationName: 'runway-api-listener' });
  return {
    ...base,
    prices: new PriceBook(base.config.prices),
    providers: createProviderRegistry(base.config),
    listener,
    events: new RunEventHub({ db: base.db, listener, logger: base.logger }),
    launcher: launcherFor(base),
    tokens: new ScopedTokens(base.secretsKey),
  };
}
