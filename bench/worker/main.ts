import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createDb, createPool } from '../../src/db/database';
import { createBenchActivities } from './activities';
import { BENCH_TASK_QUEUE_DEFAULT } from './definitions';

/**
 * The bench-only worker process: Temporal's floor (empty and no-op workflows) and the delta
 * emitter, on a task queue of its own so that it never picks up the platform's runs.
 */
async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const env = (name: string, def?: string): string => {
    const value = process.env[name] ?? def;
    if (value === undefined) throw new Error(`${name} is required`);
    return value;
  };
  const pool = createPool(env('DATABASE_URL'), 10);
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const worker = await Worker.create({
    connection,
    namespace: env('TEMPORAL_NAMESPACE', 'runway'),
    taskQueue: env('BENCH_TASK_QUEUE', BENCH_TASK_QUEUE_DEFAULT),
    workflowsPath: path.join(__dirname, 'workflows.ts'),
    activities: createBenchActivities({ db: createDb(pool) }),
    // The platform worker's limit (src/worker/create-worker.ts), so the floor runs on equal terms.
    maxConcurrentActivityTaskExecutions: 200,
  });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write('bench worker running\n');
  await worker.run();
  await connection.close();
  await pool.end();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
