/**
 * A request body as the codecs read it: bytes that arrive in chunks, in order, already inflated
 * when they came compressed, and already within the limits the HTTP layer enforces (their size,
 * their time). The codecs know nothing else of HTTP.
 */
export interface ByteSource {
  /** The body's length when it is known before the bytes arrive (a Content-Length, no compression). */
  readonly declaredLength: number | null;
  /**
   * Calls `chunk` with each piece as it arrives, and resolves once the body has ended. A chunk is
   * only valid during the call. If `chunk` throws, reading stops and the promise rejects with that.
   */
  read(chunk: (bytes: Uint8Array) => void): Promise<void>;
}

/** A body already in memory, as a source (for tests, and for bodies read by another means). */
export const bytesSource = (bytes: Uint8Array, declared = true): ByteSource => ({
  declaredLength: declared ? bytes.length : null,
  read: async (chunk) => {
    if (bytes.length > 0) chunk(bytes);
  },
});
