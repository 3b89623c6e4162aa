/**
 * Writing a slice's outputs as JSON text into rooms in shared memory: on a pool thread, as the
 * follow-up of the slice that computed them (see JsonAnswer), or here for a batch that ran here.
 */
import { numbersJson } from './numbers.js';

/** How an output's numbers are laid out: rows of `width` (0: a plain list), in groups of `group` rows (0: none). */
export interface TextLayout {
  readonly width: number;
  readonly group: number;
}

/** Rooms for a slice's text, one per output, each with its layout. */
export interface SliceText {
  readonly rooms: readonly Uint8Array[];
  readonly layouts: readonly TextLayout[];
}

/** Writes each output of the slice into its room; returns the bytes written to each. */
export function writeSliceText({ rooms, layouts }: SliceText, outputs: readonly Float64Array[]): number[] {
  return outputs.map((values, o) => numbersJson(values, rooms[o], layouts[o].width, layouts[o].group));
}
