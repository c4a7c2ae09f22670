import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { devServerOptionsFrom, startDevServer } from '../temporal/dev-server';
import { onShutdown } from '../bootstrap';

/** `npm run start:temporal`: the local Temporal dev server alone, with its Web UI. */
async function main() {
  const config = loadConfig();
  const logger = createLogger('temporal', config.logLevel);
  const options = devServerOptionsFrom(config);
  const server = await startDevServer({ ...options, log: (msg) => logger.info(msg), stdio: 'inherit' });
  logger.info(`Temporal dev server on ${server.address}; Web UI on http://${options.ip}:${config.temporal.uiPort}`);
  server.process.once('exit', (code) => process.exit(code ?? 1));
  onShutdown(logger, () => server.stop());
}

void main();
