/**
 * A flow as a picture (Accept: image/svg+xml): the phase portrait, p against q (the first pair
 * when n > 1), one curve per trajectory, above a plot of H − H₀ against time; with axes, ticks,
 * labels, a title and a legend. Plain SVG text from a template: the picture is two line plots,
 * and a charting library would bring a DOM (d3 needs one on the server) for what fits here.
 */
import { savedSteps } from '../../kernels/index.js';
import { endOf, type FlowHead, type FlowResults } from '../flows.js';

const WIDTH = 760;
const LEFT = 84;
const RIGHT = 200;
const PHASE = { top: 56, height: 400 };
const ENERGY = { top: 530, height: 190 };
const HEIGHT = 780;
/** The most points drawn of one curve; longer ones are thinned evenly, their ends kept. */
const MAX_CURVE_POINTS = 2000;
/** The most trajectories drawn and listed. */
const MAX_CURVES = 12;
/** Okabe–Ito: told apart with the common colour-vision deficiencies. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const escape = (text: string): string => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Round numbers of 1, 2 or 5 times a power of ten that span [low, high] in about `count` steps. */
export function ticks(low: number, high: number, count = 5): { values: number[]; step: number } {
  const raw = (high - low) / count;
  const exponent = Math.floor(Math.log10(raw));
  // m·10^e as the nearest double: 5e-4, not 5·1e-4 (which is 0.00049999…).
  const step = [1, 2, 5, 10].map((m) => Number(`${m}e${exponent}`)).find((s) => raw <= s) ?? Number(`1e${exponent + 1}`);
  const values: number[] = [];
  for (let k = Math.ceil(low / step); k * step <= high + step * 1e-9; k++) values.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return { values, step };
}

/** A tick's label: fixed decimals as the step needs, or an exponent for very small or large numbers. */
export function tickLabel(value: number, step: number): string {
  if (value === 0) return '0';
  return plainLabel(value, step).replace('-', '−');
}

function plainLabel(value: number, step: number): string {
  const magnitude = Math.max(Math.abs(value), step);
  if (step < 1e-3 || magnitude >= 1e5) return value.toExponential(Math.max(0, Math.floor(Math.log10(Math.abs(value))) - Math.floor(Math.log10(step)))).replace('e+', 'e');
  return value.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

/** [low, high] with room around the data, never empty. */
function span(values: Iterable<number>): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  if (low === Infinity) return [-1, 1];
  if (low === high) {
    const pad = Math.abs(low) > 0 ? Math.abs(low) * 0.1 : 1;
    return [low - pad, high + pad];
  }
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

interface Panel {
  readonly top: number;
  readonly height: number;
  readonly x: [number, number];
  readonly y: [number, number];
}

const plotWidth = WIDTH - LEFT - RIGHT;
const px = (panel: Panel, x: number) => LEFT + ((x - panel.x[0]) / (panel.x[1] - panel.x[0])) * plotWidth;
const py = (panel: Panel, y: number) => panel.top + panel.height - ((y - panel.y[0]) / (panel.y[1] - panel.y[0])) * panel.height;
const fixed = (v: number) => v.toFixed(1);

function axes(panel: Panel, xLabel: string, yLabel: string): string {
  const { top, height } = panel;
  const bottom = top + height;
  const xt = ticks(panel.x[0], panel.x[1]);
  const yt = ticks(panel.y[0], panel.y[1]);
  let out = `<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${height}" fill="#ffffff" stroke="#444" stroke-width="1"/>\n`;
  for (const v of xt.values) {
    const x = fixed(px(panel, v));
    out += `<line class="grid" x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#e4e4e4"/>`;
    out += `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#444"/>`;
    out += `<text class="tick" x="${x}" y="${bottom + 18}" text-anchor="middle">${tickLabel(v, xt.step)}</text>\n`;
  }
  for (const v of yt.values) {
    const y = fixed(py(panel, v));
    out += `<line class="grid" x1="${LEFT}" y1="${y}" x2="${LEFT + plotWidth}" y2="${y}" stroke="#e4e4e4"/>`;
    out += `<line x1="${LEFT - 5}" y1="${y}" x2="${LEFT}" y2="${y}" stroke="#444"/>`;
    out += `<text class="tick" x="${LEFT - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(v, yt.step)}</text>\n`;
  }
  out += `<text class="label" x="${LEFT + plotWidth / 2}" y="${bottom + 38}" text-anchor="middle">${escape(xLabel)}</text>\n`;
  out += `<text class="label" transform="translate(${LEFT - 62} ${top + height / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>\n`;
  return out;
}

function curve(panel: Panel, xs: readonly number[], ys: readonly number[], colour: string, index: number, clip: string): string {
  const n = xs.length;
  const stride = Math.max(1, Math.ceil(n / MAX_CURVE_POINTS));
  const points: string[] = [];
  for (let k = 0; k < n; k += stride) points.push(`${fixed(px(panel, xs[k]))},${fixed(py(panel, ys[k]))}`);
  if ((n - 1) % stride !== 0) points.push(`${fixed(px(panel, xs[n - 1]))},${fixed(py(panel, ys[n - 1]))}`);
  return `<polyline class="curve" clip-path="url(#${clip})" data-trajectory="${index}" points="${points.join(' ')}" fill="none" stroke="${colour}" stroke-width="1.6" stroke-linejoin="round"/>\n`;
}

const clipPath = (id: string, { top, height }: { top: number; height: number }) =>
  `<clipPath id="${id}"><rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${height}"/></clipPath>`;

/** The picture of a flow's answer. */
export function flowSvg(head: FlowHead, results: FlowResults): string {
  const saved = savedSteps(results.spec);
  const S = saved.length;
  const { width: w, count } = results;
  const n = w / 2;
  const shown = Math.min(count, MAX_CURVES);
  const traces: { q: number[]; p: number[]; t: number[]; dh: number[]; ended: ReturnType<typeof endOf> }[] = [];
  for (let i = 0; i < shown; i++) {
    const ended = endOf(results, i);
    const last = results.end[2 * i];
    const q: number[] = [];
    const p: number[] = [];
    const t: number[] = [];
    const dh: number[] = [];
    const h0 = results.energy[i * S];
    for (let k = 0; k < S && saved[k] <= last; k++) {
      q.push(results.states[(i * S + k) * w]);
      p.push(results.states[(i * S + k) * w + n]);
      t.push(saved[k] * results.spec.h);
      dh.push(results.energy[i * S + k] - h0);
    }
    traces.push({ q, p, t, dh, ended });
  }
  const phase: Panel = { ...PHASE, x: span(traces.flatMap((c) => c.q)), y: span(traces.flatMap((c) => c.p)) };
  const times = saved.map((s) => s * results.spec.h);
  const energy: Panel = { ...ENERGY, x: span([times[0], times.at(-1)!]), y: span(traces.flatMap((c) => c.dh)) };
  const q = n === 1 ? 'q' : 'q₁';
  const p = n === 1 ? 'p' : 'p₁';
  const title = `${head.method}, h = ${head.h}, ${head.steps} steps`;
  let body = `<text class="title" x="${LEFT}" y="28">Phase portrait: ${escape(title)}</text>\n`;
  body += axes(phase, q, p);
  body += `<text class="title" x="${LEFT}" y="${ENERGY.top - 14}">Energy error H − H₀ against time</text>\n`;
  body += axes(energy, 't', 'H − H₀');
  traces.forEach((c, i) => {
    const colour = COLOURS[i % COLOURS.length];
    body += curve(phase, c.q, c.p, colour, i, 'phase');
    body += `<circle cx="${fixed(px(phase, c.q[0]))}" cy="${fixed(py(phase, c.p[0]))}" r="3.5" fill="${colour}"/>\n`;
    body += curve(energy, c.t, c.dh, colour, i, 'energy');
  });
  // The legend, right of the plots.
  const legendX = LEFT + plotWidth + 20;
  body += `<text class="label" x="${legendX}" y="${PHASE.top + 12}">Initial (${q}, ${p})</text>\n`;
  traces.forEach((c, i) => {
    const y = PHASE.top + 34 + i * 22;
    const colour = COLOURS[i % COLOURS.length];
    const start = `(${Number(c.q[0].toPrecision(4))}, ${Number(c.p[0].toPrecision(4))})`;
    const note = c.ended ? ` ended at step ${c.ended.step}` : '';
    body += `<line x1="${legendX}" y1="${y}" x2="${legendX + 22}" y2="${y}" stroke="${colour}" stroke-width="3"/>`;
    body += `<text class="legend" x="${legendX + 28}" y="${y}" dominant-baseline="middle">${escape(start + note)}</text>\n`;
  });
  if (count > shown) body += `<text class="legend" x="${legendX}" y="${PHASE.top + 34 + shown * 22}">and ${count - shown} more, not drawn</text>\n`;
  const models = 'model' in head.hamiltonian ? [`H: ${head.hamiltonian.model.modelId}`] : [`T: ${head.hamiltonian.kinetic.modelId}`, `V: ${head.hamiltonian.potential.modelId}`];
  body += `<text class="label" x="${legendX}" y="${ENERGY.top + 12}">Models</text>\n`;
  models.forEach((line, i) => {
    body += `<text class="legend" x="${legendX}" y="${ENERGY.top + 34 + i * 18}">${escape(line.length > 28 ? `${line.slice(0, 27)}…` : line)}</text>\n`;
  });
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n` +
    `<title>${escape(`Phase portrait and energy error: ${title}`)}</title>\n` +
    `<style>.title{font-size:15px;font-weight:bold}.label{font-size:13px}.tick{font-size:11px;fill:#333}.legend{font-size:11px}</style>\n` +
    `<rect width="100%" height="100%" fill="#fafafa"/>\n` +
    `<defs>${clipPath('phase', PHASE)}${clipPath('energy', ENERGY)}</defs>\n` +
    body +
    `</svg>\n`
  );
}
