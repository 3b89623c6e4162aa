/**
 * JSON text in which every number keeps its float64 bits. Number → String gives the shortest
 * digits that read back to the same double; the one case JSON.stringify and fast-json-stringify
 * lose is −0, written here as "-0". JSON has no Infinity or NaN, so those are refused: results
 * that are not finite are refused before they get here.
 *
 * Small answers and model documents are written with it; large runs of numbers are written by
 * numbersJson (./numbers.ts), which gives the same text.
 */

export const JSON_MEDIA_TYPE = 'application/json; charset=utf-8';

function numberJson(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`${x} has no JSON form`);
  return Object.is(x, -0) ? '-0' : String(x);
}

/** True when values[start … end) holds a −0; throws on a number JSON cannot hold. */
function hasNegativeZero(values: ArrayLike<number>, start: number, end: number): boolean {
  let negativeZero = false;
  for (let i = start; i < end; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) throw new RangeError(`${x} has no JSON form`);
    if (x === 0 && 1 / x < 0) negativeZero = true;
  }
  return negativeZero;
}

function exactArrayJson(values: ArrayLike<number>, start: number, end: number): string {
  let text = '[';
  for (let i = start; i < end; i++) text += (i > start ? ',' : '') + numberJson(values[i]);
  return `${text}]`;
}

/**
 * `[x0,x1,…]` for values[start … end). JSON.stringify writes the same digits about twice as fast,
 * so it does the work unless a −0 is present.
 */
export function arrayJson(values: ArrayLike<number>, start = 0, end = values.length): string {
  if (hasNegativeZero(values, start, end)) return exactArrayJson(values, start, end);
  const copy = new Array<number>(end - start);
  for (let i = start; i < end; i++) copy[i - start] = values[i];
  return JSON.stringify(copy);
}

/**
 * Numbers as a JSON array, as numbersJson writes them inside its brackets: `[x0,x1,…]` when width
 * is 0, else `[[row 0],[row 1],…]` of `width` each, and with group > 0 every `group` rows in
 * brackets of their own.
 */
export function nestedJson(values: ArrayLike<number>, width = 0, group = 0): string {
  if (width === 0) return arrayJson(values);
  if (group === 0 && !hasNegativeZero(values, 0, values.length)) return JSON.stringify(rowsOf(values, width));
  return `[${numbersText(values, width, group)}]`;
}

/** Rows of `width` as nested arrays, for JSON.stringify. */
function rowsOf(values: ArrayLike<number>, width: number): number[][] {
  const rows = values.length / width;
  const nested = new Array<number[]>(rows);
  for (let r = 0; r < rows; r++) {
    const items = new Array<number>(width);
    for (let i = 0; i < width; i++) items[i] = values[r * width + i];
    nested[r] = items;
  }
  return nested;
}

/** nestedJson without its enclosing brackets. */
export function numbersText(values: ArrayLike<number>, width = 0, group = 0): string {
  if (width === 0) return arrayJson(values).slice(1, -1);
  const rows = values.length / width;
  const negativeZero = hasNegativeZero(values, 0, values.length);
  if (!negativeZero && group === 0) return JSON.stringify(rowsOf(values, width)).slice(1, -1);
  const row = (r: number): string => {
    if (negativeZero) return exactArrayJson(values, r * width, (r + 1) * width);
    const items = new Array<number>(width);
    for (let i = 0; i < width; i++) items[i] = values[r * width + i];
    return JSON.stringify(items);
  };
  const parts = new Array<string>(rows);
  for (let r = 0; r < rows; r++) parts[r] = row(r);
  if (group === 0) return parts.join(',');
  const groups: string[] = [];
  for (let g = 0; g < rows; g += group) groups.push(`[${parts.slice(g, g + group).join(',')}]`);
  return groups.join(',');
}

/** Any JSON-like value, with typed arrays written as arrays of numbers. */
export function exactJson(value: unknown): string {
  if (typeof value === 'number') return numberJson(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return arrayJson(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : exactJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .map(([key, member]) => `${JSON.stringify(key)}:${exactJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
