/** True when the two arrays hold the same float64 bit patterns (so −0 ≠ 0 and NaN = NaN). */
export function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const y = new BigUint64Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}
