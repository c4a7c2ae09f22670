import { bootstrap } from '../bootstrap';

/** `npm run migrate`: applies pending migrations and exits. */
void bootstrap('migrate').then(async ({ pool, logger }) => {
  logger.info('database is up to date');
  await pool.end();
});
