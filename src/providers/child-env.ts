/**
 * What a CLI agent gets in its environment: built from scratch, never copied from the worker, so
 * the platform's database URL, sealing key, admin token and provider keys stay out of reach.
 */
export const RUN_API_KEY_VARIABLE = 'RUNWAY_RUN_API_KEY';

/** The agent's own variables: the operator's configured `env`, and the run's key when it brings one. */
export function agentEnv(options: { extra?: Record<string, string>; apiKey?: string }): Record<string, string> {
  const env: Record<string, string> = { ...options.extra };
  if (options.apiKey) env[RUN_API_KEY_VARIABLE] = options.apiKey;
  return env;
}

/** A whole child environment from an allow-list of the parent's variables (PATH, HOME, LANG) plus `agentEnv`. */
export function childEnv(
  parent: NodeJS.ProcessEnv,
  options: { extra?: Record<string, string>; apiKey?: string; home?: string },
): Record<string, string> {
  return {
    PATH: parent.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home ?? parent.HOME ?? '/tmp',
    LANG: parent.LANG ?? 'C.UTF-8',
    ...agentEnv(options),
  };
}
