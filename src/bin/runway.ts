import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Runway } from '../../packages/client/src/index';
import { TerminalView } from '../terminal/terminal-view';
import { stripTerminalControls } from '../text';

const USAGE = `Usage:
  npm run runway -- run "<prompt>" [--follow] [--model demo/echo] [--max-tokens N]
  npm run runway -- follow <runId> [--after N]
  npm run runway -- stop <runId>

Options (or environment):
  --url URL        API base URL (RUNWAY_URL, default http://127.0.0.1:8080)
  --api-key KEY    account API key (RUNWAY_API_KEY)

While following, Ctrl-C asks whether to stop the run or detach from it (without a terminal on
stdin, it detaches). Exit status: 0 succeeded or detached, 1 failed, 3 stopped, 2 usage errors.`;

const counterSchema = z.string().regex(/^\d+$/).transform(Number);

class UsageError extends Error {}

/** Follows a run to its end; Ctrl-C asks whether to stop it or detach. Resolves to the exit status. */
async function follow(rw: Runway, runId: string, after: number): Promise<number> {
  const view = new TerminalView(process.stdout, process.stderr);
  const detached = new AbortController();
  let asking: Promise<void> | undefined;

  const detach = () => {
    view.clearProgress();
    process.stderr.write(`\ndetached; the run keeps going. Follow it again with:\n  npm run runway -- follow ${runId}\n`);
    detached.abort();
  };
  const ask = async () => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.on('SIGINT', () => rl.close()); // a second Ctrl-C while asking: detach
    try {
      view.clearProgress();
      const answer = await rl.question('\nStop the run, or detach and leave it running? [s]top / [d]etach (default): ', {
        signal: detached.signal,
      });
      if (/^s/i.test(answer.trim())) {
        await rw.runs.stop(runId).catch((err: unknown) => view.note(String(err)));
        view.note('stop requested; following until the run ends');
      } else {
        detach();
      }
    } catch {
      if (!detached.signal.aborted) detach();
    } finally {
      rl.close();
      asking = undefined;
    }
  };
  const onSigint = () => {
    if (asking) return; // readline handles Ctrl-C while it is asking
    if (!process.stdin.isTTY) return detach();
    asking = ask();
  };
  process.on('SIGINT', onSigint);

  try {
    const events = rw.runs.stream(runId, {
      after,
      signal: detached.signal,
      onReconnect: ({ lastId, reason }) => view.note(`connection lost (${reason}); resuming after event ${lastId}`),
    });
    for await (const event of events) {
      // While the question is on screen, events wait (the server keeps them; we resume by id).
      if (asking) await asking;
      if (detached.signal.aborted) return 0;
      view.handle(event);
    }
  } catch (err) {
    if (detached.signal.aborted) return 0;
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (detached.signal.aborted) return 0;
  return view.endStatus === 'succeeded' ? 0 : view.endStatus === 'stopped' ? 3 : 1;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      follow: { type: 'boolean', short: 'f' },
      model: { type: 'string', short: 'm' },
      'max-tokens': { type: 'string' },
      after: { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const apiKey = values['api-key'] ?? process.env.RUNWAY_API_KEY;
  if (!apiKey) throw new UsageError('an API key is required: --api-key or RUNWAY_API_KEY');
  const rw = new Runway({ baseUrl: values.url ?? process.env.RUNWAY_URL ?? 'http://127.0.0.1:8080', apiKey });

  switch (command) {
    case 'run': {
      const prompt = args.join(' ');
      if (!prompt) throw new UsageError('run needs a prompt');
      const maxTokens = values['max-tokens'] === undefined ? undefined : counterSchema.safeParse(values['max-tokens']);
      if (maxTokens && !maxTokens.success) throw new UsageError('--max-tokens must be a whole number');
      const started = await rw.runs.create({ prompt, model: values.model, maxTokens: maxTokens?.data });
      if (!values.follow) {
        process.stdout.write(`${JSON.stringify({ id: started.id, status: started.status, estimate: started.estimate })}\n`);
        return 0;
      }
      process.stderr.write(`${started.id} ${started.status} (estimate ${started.estimate} credits)\n`);
      return follow(rw, started.id, 0);
    }
    case 'follow': {
      const runId = args[0];
      if (!runId) throw new UsageError('follow needs a run id');
      const after = counterSchema.safeParse(values.after ?? '0');
      if (!after.success) throw new UsageError('--after must be an event id');
      return follow(rw, runId, after.data);
    }
    case 'stop': {
      const runId = args[0];
      if (!runId) throw new UsageError('stop needs a run id');
      process.stdout.write(`${JSON.stringify(await rw.runs.stop(runId))}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const usage = err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
    // Shown on the user's terminal: no escape sequence from a server's error text gets through.
    const message = stripTerminalControls(err instanceof Error ? err.message : String(err));
    process.stderr.write(`runway: ${message}\n${usage ? `\n${USAGE}\n` : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
