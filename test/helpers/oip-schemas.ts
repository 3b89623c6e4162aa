/**
 * The Open Inference Protocol's JSON objects, written as JSON Schema from the text of
 * kserve/open-inference-protocol, specification/protocol/inference_rest.md ($metadata_server_response,
 * $metadata_model_response, $metadata_tensor, $ready_model_response, $inference_response,
 * $response_output, $parameters, the error objects), and Triton's binary tensor data extension,
 * which lets a $response_output carry parameters.binary_data_size instead of data. Independent of
 * the service's own schemas, so that a test can hold the service to the specification.
 */

/** $parameters: name/value pairs, each value a $string, $number or $boolean. */
const parameters = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } };

/** $tensor_data: numbers (here), flat or nested, row-major. */
const tensorData = { type: 'array', items: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }, { $ref: '#/$defs/tensorData' }] } };

/** Each dimension an integer an unsigned 64-bit integer can hold; -1 for a variable one in metadata. */
const shape = (variable: boolean) => ({ type: 'array', items: { type: 'integer', minimum: variable ? -1 : 0 } });

const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

const metadataTensor = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { enum: DATATYPES }, shape: shape(true) },
};

const error = { type: 'object', required: ['error'], properties: { error: { type: 'string', minLength: 1 } }, additionalProperties: false };

export const oipSchemas = {
  metadataServer: {
    type: 'object',
    required: ['name', 'version', 'extensions'],
    properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
  },
  live: { type: 'object', required: ['live'], properties: { live: { type: 'boolean' } } },
  // The text's $ready_server_response repeats "live" (a slip in the text); KServe, Triton and their clients read "ready".
  ready: { type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } },
  metadataModel: {
    type: 'object',
    required: ['name', 'platform', 'inputs', 'outputs'],
    properties: {
      name: { type: 'string' },
      versions: { type: 'array', items: { type: 'string' } },
      platform: { type: 'string' },
      inputs: { type: 'array', items: metadataTensor },
      outputs: { type: 'array', items: metadataTensor },
    },
  },
  readyModel: { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
  inferenceResponse: {
    $defs: { tensorData },
    type: 'object',
    required: ['model_name', 'outputs'],
    properties: {
      model_name: { type: 'string' },
      model_version: { type: 'string' },
      id: { type: 'string' },
      parameters,
      outputs: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'shape', 'datatype'],
          properties: { name: { type: 'string' }, shape: shape(false), datatype: { enum: DATATYPES }, parameters, data: { $ref: '#/$defs/tensorData' } },
          // data, or (binary tensor data extension) parameters.binary_data_size and no data.
          oneOf: [
            { required: ['data'] },
            { required: ['parameters'], properties: { parameters: { required: ['binary_data_size'], properties: { binary_data_size: { type: 'integer', minimum: 0 } } } }, not: { required: ['data'] } },
          ],
        },
      },
    },
  },
  error,
} as const;
