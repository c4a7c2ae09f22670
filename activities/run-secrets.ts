/** What a run's sealed secrets hold: its own provider key, and the headers of its MCP servers by their index in `tools`. */
export interface RunSecrets {
  apiKey?: string;
  mcpHeaders?: Record<string, Record<string, string>>;
}
