import { freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';

/**
 * The platform's own dev server start (src/temporal/dev-server.ts: headless, free port, SQLite
 * file in `dataDir` with the same WAL settings `npm start` uses), so the benches measure what ships.
 */
export async function startBenchTemporal(options: { dataDir: string; namespace: string; log: (msg: string) => void }): Promise<DevServer> {
  return startDevServer({ port: await freePort(), uiPort: null, namespace: options.namespace, dataDir: options.dataDir, log: options.log });
}
