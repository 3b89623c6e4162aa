/**
 * A flow's answers, from the flow operation's outputs (../compute/flows.ts): JSON, raw float64s,
 * and NDJSON lines written as the saves fill. Nothing here computes; the SVG picture is in
 * ./svg/flows.ts.
 */
import { FLOW_END, savedSteps, type FlowSpec } from '../kernels/index.js';
import { endReasons } from '../compute/flows.js';

/** The models and versions that computed an answer, as answers name them. */
export type UsedHamiltonian =
  | { readonly kinetic: UsedModel; readonly potential: UsedModel }
  | { readonly model: UsedModel };
export interface UsedModel {
  readonly modelId: string;
  readonly modelVersion: number;
}

/** A flow's outputs, trajectory-major, as the operation wrote them. */
export interface FlowResults {
  readonly count: number;
  /** 2n. */
  readonly width: number;
  readonly spec: FlowSpec;
  readonly states: Float64Array;
  readonly energy: Float64Array;
  readonly maxEnergyError: Float64Array;
  readonly end: Float64Array;
}

export interface FlowHead {
  readonly hamiltonian: UsedHamiltonian;
  readonly method: string;
  readonly h: number;
  readonly steps: number;
  readonly every: number;
}

export interface Ended {
  readonly step: number;
  readonly reason: string;
  readonly detail: string;
}

/** Where and why trajectory i ended early, or null. */
export function endOf(results: FlowResults, i: number): Ended | null {
  const code = results.end[2 * i + 1];
  const reason = endReasons[code];
  if (code === FLOW_END.completed || reason == null) return null;
  const step = results.end[2 * i];
  const detail =
    code === FLOW_END.nonFinite
      ? `the state after step ${step} (or its energy) is not a finite number: the trajectory left the region where the networks are finite; try a smaller h`
      : `Newton's method for step ${step + 1} did not converge; try a smaller h`;
  return { step, reason, detail };
}

/** The saves trajectory i reached. */
function reached(results: FlowResults, i: number, saved: readonly number[]): number {
  const last = results.end[2 * i];
  let count = 0;
  while (count < saved.length && saved[count] <= last) count++;
  return count;
}

/** The JSON answer, as an object (JSON.stringify writes every float64 so that it reads back the same). */
export function flowJson(head: FlowHead, results: FlowResults) {
  const saved = savedSteps(results.spec);
  const S = saved.length;
  const { width: w } = results;
  const states: number[][][] = [];
  const energy: number[][] = [];
  const ended: (Ended | null)[] = [];
  for (let i = 0; i < results.count; i++) {
    const count = reached(results, i, saved);
    const rows: number[][] = [];
    for (let k = 0; k < count; k++) rows.push(Array.from(results.states.subarray((i * S + k) * w, (i * S + k + 1) * w)));
    states.push(rows);
    energy.push(Array.from(results.energy.subarray(i * S, i * S + count)));
    ended.push(endOf(results, i));
  }
  return { ...head, times: saved.map((s) => s * results.spec.h), states, energy, maxEnergyError: Array.from(results.maxEnergyError), ended };
}

/** The headers of the raw-float64 answer, which is the outputs' block as it is (FLOW_BINARY_LAYOUT). */
export const flowBinaryHeaders = (results: FlowResults) => ({
  'flow-trajectories': results.count,
  'flow-saves': savedSteps(results.spec).length,
  'flow-state-size': results.width,
});

/**
 * NDJSON: a `start` line, then one `save` line for each saved step once every trajectory has
 * passed it (the states of trajectories that ended before it are null), then an `end` line.
 */
export class FlowLines {
  private next = 0;
  private readonly saved: readonly number[];

  constructor(
    private readonly head: FlowHead,
    private readonly spec: FlowSpec,
    private readonly count: number,
    private readonly width: number,
  ) {
    this.saved = savedSteps(spec);
  }

  start(): string {
    return `${JSON.stringify({ type: 'start', ...this.head, trajectories: this.count, saves: this.saved.length })}\n`;
  }

  /** The save lines for every saved step up to `step` not yet written, from the outputs as they fill. */
  upTo(step: number, states: Float64Array, energy: Float64Array): string {
    const { saved, count, width: w } = this;
    const S = saved.length;
    let text = '';
    while (this.next < S && saved[this.next] <= step) {
      const k = this.next++;
      const rows: (number[] | null)[] = [];
      const values: (number | null)[] = [];
      for (let i = 0; i < count; i++) {
        const e = energy[i * S + k];
        const finite = Number.isFinite(e);
        rows.push(finite ? Array.from(states.subarray((i * S + k) * w, (i * S + k + 1) * w)) : null);
        values.push(finite ? e : null);
      }
      text += `${JSON.stringify({ type: 'save', step: saved[k], t: saved[k] * this.spec.h, states: rows, energy: values })}\n`;
    }
    return text;
  }

  end(results: FlowResults): string {
    const ended = Array.from({ length: results.count }, (_, i) => endOf(results, i));
    return `${JSON.stringify({ type: 'end', maxEnergyError: Array.from(results.maxEnergyError), ended })}\n`;
  }
}
