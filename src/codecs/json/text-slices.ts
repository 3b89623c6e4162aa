/**
 * Writing a slice of a large answer's numbers as JSON text, on a pool thread (the executor's pool
 * runs it by name: see writeJsonAnswer), into room in shared memory.
 */
import { numbersJson } from './numbers.js';

export interface TextSlice {
  readonly values: Float64Array;
  readonly room: Uint8Array;
  readonly width: number;
  readonly group: number;
}

/** Writes the slice; returns the bytes written. */
export function writeTextSlice({ values, room, width, group }: TextSlice): number {
  return numbersJson(values, room, width, group);
}
