import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** The one tool of the bench's MCP server: answers at once. */
export const MCP_NOOP_TOOL = 'bench_noop';

/**
 * A real MCP server (the official SDK, Streamable HTTP) in the bench process on 127.0.0.1, whose
 * one tool answers at once. Stateless, as the SDK suggests for servers that keep nothing: a fresh
 * server and transport per HTTP request, so nothing accumulates however many runs call it.
 */
export async function startBenchMcpServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      const mcp = new McpServer({ name: 'runway-bench', version: '1.0.0' });
      mcp.registerTool(MCP_NOOP_TOOL, { description: 'Does nothing, at once' }, async () => ({ content: [{ type: 'text' as const, text: 'ok' }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
