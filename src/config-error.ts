/**
 * The operator's configuration is invalid (an environment variable, or a file the platform keeps
 * under its data folder): start-up stops and prints the message instead of a stack trace. A file
 * of its own, so that lower layers can throw it without importing the whole configuration.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
