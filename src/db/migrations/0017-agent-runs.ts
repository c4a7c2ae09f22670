import { sql, type Kysely } from 'kysely';

/**
 * Agent runs (issue #28): a run with `tools` loops model turn → tool calls → model. What it may
 * do is admitted with the run (`tools`, `max_steps`, `tool_price`); its transcript lives in
 * `run_steps`, one row per model turn or tool call, so workflow history carries only step
 * numbers. A tool step's `data` gets its `result` once, when the call finished: a retried or
 * replayed activity that finds it returns it instead of calling the tool again.
 * `tool_cost` is what its tool steps cost (sandbox seconds at `tool_price`), settled with its tokens.
 * `mcp_tools` is the tool list the run's MCP servers offered, read once at its start.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE runs ADD COLUMN tools jsonb;
    ALTER TABLE runs ADD COLUMN max_steps integer CHECK (max_steps BETWEEN 1 AND 500);
    ALTER TABLE runs ADD COLUMN tool_price integer NOT NULL DEFAULT 0 CHECK (tool_price >= 0);
    ALTER TABLE runs ADD COLUMN step_count integer NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN tool_cost integer NOT NULL DEFAULT 0 CHECK (tool_cost >= 0);
    ALTER TABLE runs ADD COLUMN mcp_tools jsonb;
    CREATE TABLE run_steps (
      run_id      text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      index       integer NOT NULL CHECK (index >= 0),
      kind        text NOT NULL CHECK (kind IN ('model', 'tool')),
      data        jsonb NOT NULL,
      started_at  timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      PRIMARY KEY (run_id, index)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE run_steps;
    ALTER TABLE runs DROP COLUMN mcp_tools;
    ALTER TABLE runs DROP COLUMN tool_cost;
    ALTER TABLE runs DROP COLUMN step_count;
    ALTER TABLE runs DROP COLUMN tool_price;
    ALTER TABLE runs DROP COLUMN max_steps;
    ALTER TABLE runs DROP COLUMN tools;
  `.execute(db);
}
