/** Domain errors. The HTTP layer maps each class to a status and a problem type. */

/** A request or model larger than a configured limit; refused before anything large is allocated. */
export class LimitExceededError extends Error {
  override readonly name = 'LimitExceededError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Points whose shape does not fit the model, such as a point with the wrong number of coordinates. */
export class PointsShapeError extends Error {
  override readonly name = 'PointsShapeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A binary body that is not a whole number of points of finite float64s. */
export class MalformedPointsError extends Error {
  override readonly name = 'MalformedPointsError';
}

/** Values or gradients that came out as ±Infinity or NaN, at the listed points (at most `listed`). */
export class NonFiniteResultError extends Error {
  override readonly name = 'NonFiniteResultError';
  constructor(
    readonly points: readonly number[],
    listed: number,
  ) {
    const names = points.map((p) => `points[${p}]`);
    const subject =
      names.length === 1
        ? `${names[0]} gives a value or gradient that is not finite`
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} give values or gradients that are not finite`;
    const truncated = points.length >= listed ? `; only the first ${listed} are listed` : '';
    super(`${subject} (the network overflows there)${truncated}`);
  }
}

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
  constructor(
    readonly id: string,
    readonly version?: number,
  ) {
    super(version === undefined ? `no model with id '${id}'` : `the model '${id}' has no version ${version}`);
  }
}

/** A conditional write (If-Match, If-None-Match) whose condition does not hold; nothing was changed. */
export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';
}

/** The registry already holds as many models, or as many bytes of weights, as it may. */
export class RegistryFullError extends Error {
  override readonly name = 'RegistryFullError';
  constructor(message: string) {
    super(message);
  }

  static models(capacity: number): RegistryFullError {
    return new RegistryFullError(`the registry holds its limit of ${capacity} models (MAX_MODELS); delete one first`);
  }

  static versions(id: string, capacity: number): RegistryFullError {
    return new RegistryFullError(`the model '${id}' has its limit of ${capacity} versions (MAX_MODEL_VERSIONS); delete one first`);
  }

  static bytes(held: number, wanted: number, capacity: number): RegistryFullError {
    return new RegistryFullError(
      `the registry holds ${held} bytes of weights and this model has ${wanted}, more than the limit of ${capacity} bytes in all (MAX_REGISTRY_BYTES); delete a model first`,
    );
  }
}

/** The store has no room for the model (ENOSPC, EDQUOT); nothing of it was kept. */
export class InsufficientStorageError extends Error {
  override readonly name = 'InsufficientStorageError';
}

/**
 * The shared registry's database cannot be reached: a write, or a read of a model this process
 * does not hold, cannot be done now. Nothing was changed; retry after `retryAfter` seconds.
 */
export class RegistryUnavailableError extends Error {
  override readonly name = 'RegistryUnavailableError';
  readonly retryAfter = 2;
}

/** The request's work was given up: its client went away, or the service is shutting down. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(readonly reason: 'client-gone' | 'shutting-down' = 'client-gone') {
    super(
      reason === 'client-gone'
        ? 'the client went away before the work was done'
        : 'the service is shutting down and gave up this request\'s work; send it again (to another instance)',
    );
  }
}
