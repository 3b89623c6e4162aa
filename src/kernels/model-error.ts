/** Model data that does not describe a network; the message names the offending field. */
export class ModelDataError extends Error {
  override readonly name = 'ModelDataError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
