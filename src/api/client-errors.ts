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
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const problem =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new Problem(431, 'request-header-fields-too-large', 'Request header fields too large', 'the request line and headers are over 16 KiB')
        : problems.validation([{ path: '', message: 'the request is not valid HTTP/1.1' }]);
    const body = JSON.stringify(problem.body());
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
