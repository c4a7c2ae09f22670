import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { problems, Problem } from './problem';

/**
 * Requests Node's HTTP parser refuses before Koa sees them (headers or a URL over its 16 KiB
 * limit, malformed request lines) get a problem+json answer like every other refusal, instead of
 * Node's bare status line.
 */
export function answerClientErrorsWithProblems(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A response already under way (the request's own body timed out after it began) cannot get another.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (!socket.writable || err.code === 'ECONNRESET' || answering) {
      socket.destroy();
      return;
    }
    const problem =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new Problem(431, 'request-header-fields-too-large', 'Request header fields too large', 'the request line and headers are over 16 KiB')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADER_TIMEOUT'
          ? new Problem(408, 'request-timeout', 'Request timeout', 'the request did not arrive in time')
          : problems.validation([{ path: '', message: 'the request is not valid HTTP/1.1' }]);
    const body = JSON.stringify(problem.body());
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}

/**
 * Node's own deadlines for a request to arrive: its headers within `bodyTimeoutMs`, all of it
 * within twice that (the JSON parser answers a slow body first, with a problem; this is the
 * backstop for a body nobody reads). They cover receiving the request only: once it is in, a
 * response may last as long as it needs, so event streams stay open.
 */
export function limitRequestArrival(server: Server, bodyTimeoutMs: number): void {
  server.headersTimeout = bodyTimeoutMs;
  server.requestTimeout = 2 * bodyTimeoutMs;
  // How often Node looks for requests past those deadlines (default 30 s: far past a 10 s one).
  // A constructor option that Node reads when the server starts listening: call this before then.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(bodyTimeoutMs / 4)));
}
