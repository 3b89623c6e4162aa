/**
 * A request body as the codecs read it: bytes that arrive in chunks, in order, already inflated
 * when they came compressed, and already within the limits the HTTP layer enforces (their size,
 * their time). The codecs know nothing else of HTTP.
 */
export interface ByteSource {
  /** The body's length when it is known before the bytes arrive (a Content-Length, no compression). */
  readonly declaredLength: number | null;
  /** The whole body, when it is already in memory: a codec may read it at once instead. */
  readonly whole?: Uint8Array;
  /**
   * Calls `chunk` with each piece as it arrives, and resolves once the body has ended. A chunk is
   * the caller's to keep: nothing writes to it afterwards. If `chunk` throws, reading stops and the
   * promise rejects with that.
   */
  read(chunk: (bytes: Uint8Array) => void): Promise<void>;
}

/** A body already in memory, as a source (for tests, and for bodies read by another means). */
export const bytesSource = (bytes: Uint8Array, declared = true): ByteSource => ({
  declaredLength: declared ? bytes.length : null,
  ...(declared ? { whole: bytes } : {}),
  read: async (chunk) => {
    if (bytes.length > 0) chunk(bytes);
  },
});

/**
 * `f` of a value that may still be coming: at once when it is here, else when it comes. (Not named
 * `then`: a module exporting `then` is a thenable, and `await import()` of it would call it.)
 */
export function andThen<T, R>(value: T | Promise<T>, f: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(f) : f(value);
}

/** The whole body, gathered into one array as it arrives. */
export async function gather(source: ByteSource): Promise<Uint8Array> {
  if (source.whole !== undefined) return source.whole;
  const chunks: Uint8Array[] = [];
  await source.read((chunk) => chunks.push(chunk));
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
