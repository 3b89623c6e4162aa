import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A raw HTTP/1.1 exchange on its own socket: what the server sent, and whether it closed the connection. */
export interface RawExchange {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Settles when the server has sent an answer's head (or closed the connection). */
  readonly head: Promise<string>;
  /** Settles when the connection has closed, from either side. */
  readonly closed: Promise<void>;
}

/** Opens a connection to `url` and sends `head` (a request line and headers, without the blank line). */
export async function rawRequest(url: string, head: string): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  let resolveHead!: (head: string) => void;
  const headPromise = new Promise<string>((resolve) => (resolveHead = resolve));
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    if (text.includes('\r\n\r\n')) resolveHead(text.slice(0, text.indexOf('\r\n\r\n')));
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => resolveHead(text));
  socket.write(`${head}\r\n\r\n`);
  return { socket, received: () => text, head: headPromise, closed };
}

/** The status code in an answer's head. */
export const statusOf = (head: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);

/** The JSON body of a complete answer whose head and body have arrived (Content-Length framing). */
export const bodyOf = (text: string): unknown => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
