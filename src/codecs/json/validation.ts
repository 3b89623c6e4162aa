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

/** One sentence for the first relevant error. */
export function describeValidation(
  errors: readonly SchemaError[],
  context: string,
  schema: SchemaNode | undefined,
  data: unknown,
): string {
  const [first] = intendedErrors(errors, schema, data);
  return first ? sentence(first, context) : `${context} is invalid`;
}
