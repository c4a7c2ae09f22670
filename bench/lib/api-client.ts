/** The few calls the benches make to the real API, over fetch (undici, keep-alive). */
export interface RunBody {
  prompt: string;
  model: 'demo/echo';
  maxTokens: number;
}

/** A demo/echo run of exactly `words` tokens (the echo streams the prompt back word by word). */
export function echoRunBody(words: number, maxTokens = words + 16): RunBody {
  const prompt = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  return { prompt, model: 'demo/echo', maxTokens };
}

export async function createRun(baseUrl: string, apiKey: string, body: RunBody | Record<string, unknown>): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id?: string };
  if (res.status !== 202 || !json.id) throw new Error(`POST /v1/runs answered ${res.status}: ${JSON.stringify(json)}`);
  return json.id;
}

export async function stopRun(baseUrl: string, apiKey: string, runId: string): Promise<number> {
  const res = await fetch(`${baseUrl}/v1/runs/${runId}/stop`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}` },
  });
  await res.arrayBuffer();
  return res.status;
}

/** GET /v1/runs/{id}: the run as the API shows it. */
export async function getRun(baseUrl: string, apiKey: string, runId: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${apiKey}` } });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`GET /v1/runs/${runId} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}
