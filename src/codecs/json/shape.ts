/**
 * The shape a JSON document must have, derived from its JSON schema (the routes' TypeBox schemas),
 * for the streaming reader (./reader.ts): which members are nested arrays of numbers, of which
 * ranks; which objects are closed; where only a scalar belongs. And the schema's skeleton: the
 * same schema with each numeric array accepted as it is, for the validator to check the rest of
 * the document once it has been read.
 */
import type { Shape } from './reader.js';

type Schema = Readonly<Record<string, unknown>> & {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly anyOf?: readonly Schema[];
  readonly additionalProperties?: unknown;
  readonly minItems?: number;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
};

const typeOf = (schema: Schema): string | undefined => (Array.isArray(schema.type) ? undefined : (schema.type as string | undefined));

/** For a nested array of numbers: its rank and the minItems at each depth; null for anything else. */
function numericArray(schema: Schema): { ranks: number[]; minItems: number[] } | null {
  if (schema.anyOf) {
    const branches = schema.anyOf.map(numericArray);
    if (branches.some((b) => b === null)) return null;
    const ranks = [...new Set(branches.flatMap((b) => b!.ranks))].sort((a, b) => a - b);
    const depth = Math.max(...branches.map((b) => b!.minItems.length));
    const minItems = Array.from({ length: depth }, (_, d) => Math.min(...branches.map((b) => b!.minItems[d] ?? 0)));
    return { ranks, minItems };
  }
  if (typeOf(schema) !== 'array' || schema.items === undefined) return null;
  const items = schema.items;
  const itemType = typeOf(items);
  if ((itemType === 'number' || itemType === 'integer') && !items.anyOf) return { ranks: [1], minItems: [schema.minItems ?? 0] };
  const inner = numericArray(items);
  if (inner === null) return null;
  return { ranks: inner.ranks.map((r) => r + 1), minItems: [schema.minItems ?? 0, ...inner.minItems] };
}

const scalarTypes = new Set(['number', 'integer', 'string', 'boolean', 'null']);

/** The reader's shape for a document of this schema. */
export function shapeOf(schema: Schema): Shape {
  const numbers = numericArray(schema);
  if (numbers !== null) {
    return { kind: 'numbers', minRank: numbers.ranks[0], maxRank: numbers.ranks.at(-1)!, minItems: numbers.minItems };
  }
  if (schema.anyOf) {
    const branches = schema.anyOf.map(shapeOf);
    if (branches.every((b) => b.kind === 'object')) {
      const fields = new Map<string, Shape>();
      for (const branch of branches) {
        for (const [name, shape] of branch.fields) {
          const known = fields.get(name);
          fields.set(name, known === undefined || JSON.stringify(known) === JSON.stringify(shape) ? shape : { kind: 'any' });
        }
      }
      return { kind: 'object', fields, closed: branches.every((b) => b.closed) };
    }
    if (branches.every((b) => b.kind === 'scalar')) return { kind: 'scalar', expected: branches[0].expected };
    return { kind: 'any' };
  }
  const type = typeOf(schema);
  if (type === 'object' && schema.properties) {
    const fields = new Map(Object.entries(schema.properties).map(([name, child]) => [name, shapeOf(child)]));
    return { kind: 'object', fields, closed: schema.additionalProperties === false };
  }
  if (type === 'array' && schema.items) return { kind: 'list', items: shapeOf(schema.items) };
  if (type !== undefined && scalarTypes.has(type)) return { kind: 'scalar', expected: type };
  if (schema.enum !== undefined || schema.const !== undefined) return { kind: 'scalar', expected: 'string' };
  return { kind: 'any' };
}

/** The schema with every nested array of numbers replaced by a schema that accepts anything. */
export function skeletonOf(schema: Schema): Schema {
  if (numericArray(schema) !== null) return {};
  const copy: Record<string, unknown> = { ...schema };
  if (schema.anyOf) copy.anyOf = schema.anyOf.map(skeletonOf);
  if (schema.properties) copy.properties = Object.fromEntries(Object.entries(schema.properties).map(([name, child]) => [name, skeletonOf(child)]));
  if (schema.items && typeOf(schema) === 'array') copy.items = skeletonOf(schema.items);
  return copy;
}
