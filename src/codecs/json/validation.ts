/**
 * Turns the validator's errors into one sentence that names the field the way a client wrote it:
 * `W[3][1] must be a number`, `unknown property 'activaton'`.
 */

/** The parts of an Ajv error this module reads. */
export interface SchemaError {
  readonly instancePath: string;
  readonly schemaPath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

interface SchemaNode {
  readonly anyOf?: readonly { readonly properties?: Record<string, unknown> }[];
}

/** Most missing fields named in one message; more are counted. */
export const MISSING_FIELDS_NAMED = 8;

/** '/W/3/1' → 'W[3][1]'; the root is named by its context ('body', 'querystring'). */
export function fieldName(instancePath: string, context: string): string {
  if (instancePath === '') return context;
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

const child = (parent: string, context: string, name: string) => (parent === context ? name : `${parent}.${name}`);

const typeNames: Record<string, string> = {
  number: 'a finite number',
  integer: 'an integer',
  string: 'a string',
  array: 'an array',
  object: 'an object',
  boolean: 'a boolean',
};

function sentence(error: SchemaError, context: string): string {
  const field = fieldName(error.instancePath, context);
  const { params } = error;
  switch (error.keyword) {
    case 'required':
      return `${child(field, context, String(params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${field === context ? context : field} has an unknown property '${String(params.additionalProperty)}'`;
    case 'type':
      return `${field} must be ${typeNames[String(params.type)] ?? String(params.type)}`;
    case 'enum':
      return `${field} must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'minItems':
      return `${field} must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `${field} must have at most ${String(params.limit)} items`;
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

/**
 * For a body that is one of several object forms (anyOf), the errors of the form the client meant:
 * the one whose property names the body shares most, then the one whose error lies deepest.
 */
function intendedErrors(errors: readonly SchemaError[], schema: SchemaNode | undefined, data: unknown): readonly SchemaError[] {
  const branches = schema?.anyOf;
  if (!branches || !errors.some((e) => e.schemaPath === '#/anyOf')) return errors;
  const keys = data !== null && typeof data === 'object' ? Object.keys(data) : [];
  const score = (i: number) => {
    const own = errors.filter((e) => e.schemaPath.startsWith(`#/anyOf/${i}/`));
    const shared = keys.filter((k) => Object.hasOwn(branches[i].properties ?? {}, k)).length;
    const depth = Math.max(-1, ...own.map((e) => e.instancePath.split('/').length));
    return { own, rank: shared * 1000 + depth };
  };
  const best = branches.map((_, i) => score(i)).reduce((a, b) => (b.rank > a.rank ? b : a));
  return best.own.length > 0 ? best.own : errors;
}

/** The value at a JSON pointer's segments, or undefined. */
function at(root: unknown, segments: readonly string[]): unknown {
  let value = root;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return value;
}

/**
 * For a missing member: every member the same object lacks, so that a client learns them all at
 * once (the validator stops at the first); the first MISSING_FIELDS_NAMED are named.
 */
function missingSentence(error: SchemaError, context: string, schema: SchemaNode | undefined, data: unknown): string {
  const field = fieldName(error.instancePath, context);
  const node = at(schema, error.schemaPath.split('/').slice(1, -1)) as { required?: unknown } | undefined;
  const object = at(data, error.instancePath.split('/').slice(1));
  const required = Array.isArray(node?.required) ? (node.required as unknown[]).filter((name): name is string => typeof name === 'string') : [];
  const missing = object !== null && typeof object === 'object' ? required.filter((name) => !Object.hasOwn(object, name)) : [];
  if (missing.length < 2) return `${child(field, context, String(error.params.missingProperty))} is required`;
  const named = missing.slice(0, MISSING_FIELDS_NAMED).map((name) => child(field, context, name));
  const more = missing.length - named.length;
  const list = more > 0 ? `${named.join(', ')} and ${more} more` : `${named.slice(0, -1).join(', ')} and ${named.at(-1)}`;
  return `${list} are required`;
}

/** One sentence for the first relevant error. */
export function describeValidation(
  errors: readonly SchemaError[],
  context: string,
  schema: SchemaNode | undefined,
  data: unknown,
): string {
  const [first] = intendedErrors(errors, schema, data);
  if (!first) return `${context} is invalid`;
  return first.keyword === 'required' ? missingSentence(first, context, schema, data) : sentence(first, context);
}
