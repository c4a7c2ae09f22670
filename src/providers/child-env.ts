/**
 * The environment a CLI agent starts with: built from scratch, never copied from the worker, so
 * the platform's database URL, sealing key, admin token and provider keys stay out of reach.
 */
export const RUN_API_KEY_VARIABLE = 'RUNWAY_RUN_API_KEY';

export function childEnv(
  parent: NodeJS.ProcessEnv,
  options: { extra?: Record<string, string>; apiKey?: string; home?: string },
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: parent.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home ?? parent.HOME ?? '/tmp',
    LANG: parent.LANG ?? 'C.UTF-8',
    ...options.extra,
  };
  if (options.apiKey) env[RUN_API_KEY_VARIABLE] = options.apiKey;
  return env;
}
