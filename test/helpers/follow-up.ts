/** Calls of firstValue in this thread (the fake pool runs follow-ups here). */
export const calls = { count: 0 };

/** A slice follow-up for the executor's tests: the slice's first point's value, and the argument it was given. */
export function firstValue(argument: { from: number }, outputs: readonly Float64Array[]): { from: number; first: number } {
  calls.count++;
  return { from: argument.from, first: outputs[0][0] };
}
