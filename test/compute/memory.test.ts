import { describe, expect, it } from 'vitest';
import { createSharedMemory } from '../../src/compute/memory.js';

const MiB = 1 << 20;

describe('recycled shared memory', () => {
  it('lends a released buffer again, to a request of the same size class', () => {
    const memory = createSharedMemory({ retainBytes: 64 * MiB });
    const first = memory.lease();
    const a = first.float64(300_000); // 2.4 MB: the 4 MiB class
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.length).toBe(300_000);
    first.release();
    expect(memory.retained()).toBe(4 * MiB);
    const second = memory.lease();
    const b = second.bytes(3 * MiB);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(3 * MiB);
    expect(memory.retained()).toBe(0);
    // A different class gets a buffer of its own.
    expect(second.float64(MiB).buffer).not.toBe(a.buffer);
  });

  it('does not lend a buffer twice while it is out', () => {
    const memory = createSharedMemory({ retainBytes: 64 * MiB });
    const one = memory.lease();
    const two = memory.lease();
    expect(one.bytes(2 * MiB).buffer).not.toBe(two.bytes(2 * MiB).buffer);
  });

  it('recycles small buffers in page-sized classes, and leaves buffers past retainBytes to the garbage collector', () => {
    const memory = createSharedMemory({ retainBytes: 4 * MiB + 4096 });
    const lease = memory.lease();
    const small = lease.bytes(100);
    expect(small.buffer.byteLength).toBe(4096);
    lease.bytes(3 * MiB);
    lease.bytes(3 * MiB);
    lease.release();
    expect(memory.retained()).toBe(4 * MiB + 4096);
    expect(memory.lease().bytes(4000).buffer).toBe(small.buffer);
  });

  it('keeps a lease open until the work holding it has settled, even if it fails', async () => {
    const memory = createSharedMemory({ retainBytes: 64 * MiB });
    const lease = memory.lease();
    const buffer = lease.bytes(2 * MiB).buffer;
    let finish!: (value: number) => void;
    let fail!: (error: Error) => void;
    const work = lease.hold(new Promise<number>((resolve) => (finish = resolve)));
    const failing = lease.hold(new Promise<number>((_resolve, reject) => (fail = reject)));
    lease.release();
    expect(memory.retained()).toBe(0);
    expect(memory.lease().bytes(2 * MiB).buffer).not.toBe(buffer);
    finish(1);
    await work;
    expect(memory.retained()).toBe(0);
    fail(new Error('thread died'));
    await expect(failing).rejects.toThrow('thread died');
    expect(memory.retained()).toBe(2 * MiB);
    expect(memory.lease().bytes(2 * MiB).buffer).toBe(buffer);
  });

  it('drops buffers that nobody has asked for within idleMs', async () => {
    const memory = createSharedMemory({ retainBytes: 64 * MiB, idleMs: 100 });
    const lease = memory.lease();
    lease.bytes(2 * MiB);
    lease.release();
    expect(memory.retained()).toBe(2 * MiB);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(memory.retained()).toBe(0);
  });
});
