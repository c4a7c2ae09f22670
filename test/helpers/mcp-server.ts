import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** A real MCP server (the official SDK over Streamable HTTP) on 127.0.0.1, for tests. */
export interface TestMcpServer {
  server: http.Server;
  url: string;
  stop(): Promise<void>;
}

async function listen(server: http.Server): Promise<TestMcpServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Stateful sessions, as most servers keep them: `build` makes each session's server. With
 * `token`, a request without that Authorization header is a 401 that echoes the header it got
 * (a client must never show it).
 */
export function startMcpServer(build: () => McpServer, options: { token?: string } = {}): Promise<TestMcpServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  return listen(
    http.createServer((req, res) => {
      void (async () => {
        if (options.token && req.headers.authorization !== options.token) return res.writeHead(401).end(`unauthorized: ${req.headers.authorization ?? ''}`);
        const sid = req.headers['mcp-session-id'];
        let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
        if (!transport && sid !== undefined) return res.writeHead(404).end('no such session');
        if (!transport) {
          const created = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, created) });
          transport = created;
          await build().connect(created);
        }
        await transport.handleRequest(req, res);
      })().catch(() => res.destroy());
    }),
  );
}

/** Stateless: a fresh server (built from the request, so a tool can see its headers) per HTTP request. */
export function startStatelessMcpServer(build: (req: http.IncomingMessage) => McpServer): Promise<TestMcpServer> {
  return listen(
    http.createServer((req, res) => {
      void (async () => {
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        await build(req).connect(transport);
        await transport.handleRequest(req, res);
      })().catch(() => res.destroy());
    }),
  );
}
