/** The params schema `report.study` and `report.plots` share (the DSL validates `with:` against it). */

const runRefSchema = {
  oneOf: [
    { type: 'string' },
    { type: 'object', additionalProperties: false, required: ['metrics'], properties: {
      metrics: { type: 'string' }, predictions: { type: 'string' }, task: { type: 'string' }, method: { type: 'string' },
      seed: { type: 'integer' }, trainSize: { type: 'integer' }, stage: { type: 'string' },
      environment: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
    } },
  ],
} as const;

const runListItem = { oneOf: [runRefSchema, { type: 'array', items: runRefSchema }] } as const;

/** Reference numbers in % (the paper's one-shot tables are not bundled: the pipeline gives them). */
const referenceSchema = {
  oneOf: [
    { type: 'null' },
    { type: 'object', additionalProperties: false, required: ['title', 'rows'], properties: {
      title: { type: 'string', minLength: 1 },
      source: { type: 'string' },
      rows: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, minProperties: 1, properties: {
        ft: { type: 'number', minimum: 0, maximum: 100 }, vpt: { type: 'number', minimum: 0, maximum: 100 },
      } } },
    } },
  ],
} as const;

export const reportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['runs'],
  properties: {
    runs: { type: 'array', items: runListItem, minItems: 1 },
    promptSweep: { type: 'array', items: runListItem },
    reference: referenceSchema,
    quadrants: { type: 'string' },
    // Nested lists are flattened: a matrix data stage's outputs are one list per reference.
    tasks: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } },
    lock: { type: 'string' },
    attributions: { type: 'array', items: { type: 'string' } },
    trainSize: { type: 'integer', minimum: 1 },
    suite: { type: 'string' },
    paper: { enum: ['auto', 'always', 'never'] },
    title: { type: 'string' },
    seed: { type: 'integer' },
  },
} as const;
