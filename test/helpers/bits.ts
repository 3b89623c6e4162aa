/** True when the two arrays hold the same float64 bit patterns (so −0 ≠ 0 and NaN = NaN). */
export function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const y = new BigUint64Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}

/** Seeded doubles from random 64-bit patterns (xorshift64*), over the whole range; finite only. */
export function randomDoubles(count: number, seed: bigint): number[] {
  let state = seed;
  const bits = new BigUint64Array(1);
  const asDouble = new Float64Array(bits.buffer);
  const out: number[] = [];
  while (out.length < count) {
    state ^= state >> 12n;
    state ^= (state << 25n) & 0xffffffffffffffffn;
    state ^= state >> 27n;
    bits[0] = (state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
    if (Number.isFinite(asDouble[0])) out.push(asDouble[0]);
  }
  return out;
}
