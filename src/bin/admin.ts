import { parseArgs } from 'node:util';
import { bootstrap } from '../bootstrap';
import { createAccount, findAccount } from '../db/accounts';
import { creditAccount } from '../db/ledger';
import { addCreditsSchema, createAccountSchema } from '../api/schemas';

const USAGE = `usage:
  npm run admin -- create-account --name NAME [--credits N] [--max-active-runs N] [--max-active-runs-per-user N]
  npm run admin -- add-credits ACCOUNT_ID --amount N [--reason TEXT]`;

/** The admin API's two actions, straight against the database (for operators with DB access). */
async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      credits: { type: 'string' },
      'max-active-runs': { type: 'string' },
      'max-active-runs-per-user': { type: 'string' },
      amount: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  const [command, id] = positionals;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  if (command === 'create-account') {
    const input = createAccountSchema.safeParse({
      name: values.name,
      credits: num(values.credits),
      maxActiveRuns: num(values['max-active-runs']),
      maxActiveRunsPerUser: num(values['max-active-runs-per-user']),
    });
    if (!input.success) return fail(input.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
    const { db, pool } = await bootstrap('admin');
    const { account, apiKey } = await createAccount(db, input.data);
    console.log(JSON.stringify({ id: account.id, name: account.name, apiKey, balance: account.balance }, null, 2));
    await pool.end();
  } else if (command === 'add-credits' && id) {
    const input = addCreditsSchema.safeParse({ amount: num(values.amount), reason: values.reason });
    if (!input.success) return fail(input.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
    const { db, pool } = await bootstrap('admin');
    if (!(await findAccount(db, id))) {
      await pool.end();
      return fail(`no account ${id}`);
    }
    const balance = await creditAccount(db, id, input.data.amount, input.data.reason);
    console.log(JSON.stringify({ balance }));
    await pool.end();
  } else {
    fail(USAGE);
  }
}

function fail(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = 2;
}

void main();
