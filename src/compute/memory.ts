/**
 * Shared memory for large batches, recycled between requests. A fresh buffer costs nothing to
 * allocate but a page fault for every 4 KiB page the first time it is written, and on virtual
 * machines those faults can cost more than the kernels that fill the memory (docs/performance.md
 * has the figures). Buffers that come back are kept, up to `retainBytes`, and lent again.
 *
 * A request borrows through a Lease and gives everything back at once when its answer has been
 * sent. Work still running on a buffer (a pool task whose client went away) holds the lease open:
 * the buffers return only when that work has settled, so no later request shares them with it.
 */

export interface SharedMemoryOptions {
  /** Most bytes kept for reuse; buffers past this are left to the garbage collector. */
  readonly retainBytes: number;
  /** Kept buffers unused for this long are dropped. */
  readonly idleMs?: number;
}

/**
 * Plain arrays below this size come and go as usual, rather than from a lease: the allocator
 * reuses memory of that size, where larger buffers come as fresh pages.
 */
export const RECYCLED_MIN_BYTES = 64 * 1024;

/** The smallest size class: a page. */
const SMALLEST_CLASS = 4096;

export interface Lease {
  /** `length` float64s, shared with worker threads, from recycled memory when there is some. */
  float64(length: number): Float64Array;
  /** `length` bytes, likewise. */
  bytes(length: number): Uint8Array;
  /** Keeps the lease open until `work` settles. */
  hold<T>(work: Promise<T>): Promise<T>;
  /** Gives every buffer back, now or once held work has settled. */
  release(): void;
}

export interface SharedMemory {
  lease(): Lease;
  /** Bytes kept for reuse right now. */
  retained(): number;
}

/** The size class of a request: the next power of two, so that nearby sizes share buffers. */
const sizeClass = (bytes: number): number => 2 ** Math.ceil(Math.log2(Math.max(bytes, SMALLEST_CLASS)));

export function createSharedMemory({ retainBytes, idleMs = 60_000 }: SharedMemoryOptions): SharedMemory {
  const free = new Map<number, { buffer: SharedArrayBuffer; since: number }[]>();
  let retained = 0;

  // Every buffer lent is recycled, small ones too: a new SharedArrayBuffer costs more to make than
  // an ArrayBuffer, which the small arrays that are not lent are.
  const take = (bytes: number): SharedArrayBuffer => {
    const size = sizeClass(bytes);
    const kept = free.get(size)?.pop();
    if (kept === undefined) return new SharedArrayBuffer(size);
    retained -= size;
    return kept.buffer;
  };

  const give = (buffer: SharedArrayBuffer): void => {
    const size = buffer.byteLength;
    if (retained + size > retainBytes) return;
    let list = free.get(size);
    if (list === undefined) free.set(size, (list = []));
    list.push({ buffer, since: Date.now() });
    retained += size;
  };

  const trim = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [size, list] of free) {
      const keep = list.filter((entry) => entry.since > cutoff);
      retained -= (list.length - keep.length) * size;
      free.set(size, keep);
    }
  }, Math.max(1000, idleMs / 2));
  trim.unref();

  return {
    retained: () => retained,
    lease() {
      const borrowed: SharedArrayBuffer[] = [];
      let holding = 0;
      let released = false;
      const settle = () => {
        if (!released || holding > 0) return;
        for (const buffer of borrowed.splice(0)) give(buffer);
      };
      const borrow = (bytes: number): SharedArrayBuffer => {
        const buffer = take(bytes);
        // After release, a late borrower keeps its buffer to itself: it is never given back.
        if (!released) borrowed.push(buffer);
        return buffer;
      };
      return {
        float64: (length) => new Float64Array(borrow(length * 8), 0, length),
        bytes: (length) => new Uint8Array(borrow(length), 0, length),
        hold(work) {
          holding++;
          const done = () => {
            holding--;
            settle();
          };
          work.then(done, done);
          return work;
        },
        release() {
          released = true;
          settle();
        },
      };
    },
  };
}
