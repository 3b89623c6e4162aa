/**
 * The JSON number primitives, compiled to their own WebAssembly module (npm run build:wasm): a
 * writer of runs of numbers (./number-text.ts, Ryu) and a reader of nested arrays of numbers
 * (./number-scan.ts, Eisel–Lemire). Both work on byte ranges they are given and know nothing of
 * the documents around the numbers. The loader is ../numbers.ts.
 */
export { numbersJson } from './number-text';
export {
  scanNumbers,
  scanStateAddress,
  SCAN_STATE_WORDS,
  SCAN_RUNNING,
  SCAN_DONE,
  SCAN_SLOW_NUMBER,
  SCAN_SYNTAX,
  SCAN_NOT_NUMBER,
  SCAN_NOT_ARRAY,
  SCAN_NOT_FINITE,
  SCAN_TOO_MANY_OUTER,
  SCAN_TOO_MANY_NUMBERS,
} from './number-scan';

/** The end of the module's static data: the loader places its scratch memory above it. */
export function staticEnd(): usize {
  return __heap_base;
}
