/** Raw float64 bodies and answers through supertest, and batches of points to send. */
import type { Response } from 'supertest';
import { gunzipSync } from 'node:zlib';
import type { TestApp } from './app.js';

export const binaryBody = (points: number[][]): Buffer => Buffer.from(Float64Array.from(points.flat()).buffer);
export const rawBody = (response: Response): Buffer => response.body as Buffer;
/** supertest: keep a binary answer as the bytes it is. */
export const asBytes = (res: NodeJS.ReadableStream & { setEncoding(e: string): void }, callback: (error: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
};
/** A JSON answer's text, whether superagent has already inflated a gzipped body or not. */
export const jsonText = (response: Response): string => {
  const bytes = rawBody(response);
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString();
};
export const float64s = (bytes: Buffer): number[] => [...new Float64Array(new Uint8Array(bytes).buffer)];

/** A JSON request from a client that accepts gzip; the answer is kept as the bytes that came. */
export function postAcceptingGzip(app: TestApp, route: string, body: object) {
  return app.http.post(route).set('accept-encoding', 'gzip').send(body).buffer(true).parse(asBytes as never);
}

export function postBinary(app: TestApp, route: string, modelId: string, body: Buffer, accept = 'application/octet-stream') {
  return app.http
    .post(`${route}?modelId=${modelId}`)
    .set('content-type', 'application/octet-stream')
    .set('accept', accept)
    .send(body)
    .buffer(true)
    .parse(asBytes as never);
}

/** n points of d0 coordinates, a smooth pattern with both signs. */
export const points = (n: number, d0: number) => Array.from({ length: n }, (_, p) => Array.from({ length: d0 }, (_, i) => Math.sin(3 * p + i) * 2));
