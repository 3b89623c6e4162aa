/** Errors of reading a JSON body. The HTTP layer maps each class to a status and a problem type. */

/** The body is not JSON (or is empty): nothing in it can be trusted. */
export class MalformedJsonError extends Error {
  override readonly name = 'MalformedJsonError';
}

/** The body is JSON, but not of the shape its schema asks for; the message names the field. */
export class BodySchemaError extends Error {
  override readonly name = 'BodySchemaError';
}
