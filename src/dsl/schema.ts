/**
 * JSON Schema validation through ajv: the pipeline file's own schema (schemas/pipeline.schema.json,
 * also used by editors) and each kind's `with:` schema. ajv's instancePath is a JSON pointer,
 * which `LocatedDoc` maps back to the YAML source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { DiagnosticReason } from './diagnostic.js';
import type { Diags } from './diags.js';
import { hintFor } from './did-you-mean.js';
import { childPointer, keyOrValue, locate, valueAt, type LocatedDoc } from './yaml-source.js';

/** Absolute path of schemas/pipeline.schema.json (found from this module, in src/ or dist/). */
export const PIPELINE_SCHEMA_PATH: string = findSchema();

function findSchema(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'schemas', 'pipeline.schema.json');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas/pipeline.schema.json');
}

let pipelineValidator: ValidateFunction | undefined;

/** ajv is loaded on first validation only: a cached pipeline never pays for it. */
function newAjv(options: ConstructorParameters<typeof Ajv2020>[0]): Ajv2020 {
  const { Ajv2020: Ajv } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  return new Ajv(options);
}

function pipelineValidate(): ValidateFunction {
  if (!pipelineValidator) {
    const ajv = newAjv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    pipelineValidator = ajv.compile(JSON.parse(readFileSync(PIPELINE_SCHEMA_PATH, 'utf8')) as object);
  }
  return pipelineValidator;
}

let kindAjv: Ajv2020 | undefined;
const kindValidators = new WeakMap<object, ValidateFunction | string>();

/** A compiled kind schema, or the reason it does not compile. Kinds are others' code: not strict. */
export function kindValidator(schema: object): ValidateFunction | string {
  let v = kindValidators.get(schema);
  if (v === undefined) {
    if (!kindAjv) {
      kindAjv = newAjv({ allErrors: true, verbose: true, strict: false, allowUnionTypes: true });
      const require = createRequire(import.meta.url);
      kindAjv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-07.json') as object);
    }
    try {
      v = kindAjv.compile(schema);
    } catch (e) {
      v = e instanceof Error ? e.message : String(e);
    }
    kindValidators.set(schema, v);
  }
  return v;
}

/** Dotted name of a pointer for messages: `/stages/train/retries` -> `stages.train.retries`. */
export function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? `${s.slice(0, 37)}...` : s}`;
}

function typeWords(t: unknown): string {
  const names: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', integer: 'an integer', boolean: 'a boolean', null: 'null' };
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => names[String(x)] ?? String(x)).join(' or ');
}

/** Validate a pipeline file's value; returns the stage ids whose errors make them unusable. */
export function validatePipelineFile(doc: LocatedDoc, diags: Diags): Set<string> {
  const validate = pipelineValidate();
  const broken = new Set<string>();
  if (validate(doc.value)) return broken;
  for (const e of validate.errors ?? []) {
    if (e.keyword === 'propertyNames' || e.keyword === 'if') continue;
    const stageMatch = /^\/stages\/([^/]+)/.exec(e.instancePath);
    const stage = stageMatch ? (stageMatch[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~') : undefined;
    const reported = reportPipelineError(e, doc, diags);
    if (stage !== undefined && reported !== 'unknown-key') broken.add(stage);
  }
  return broken;
}

function reportPipelineError(e: ErrorObject, doc: LocatedDoc, diags: Diags): DiagnosticReason {
  const ptr = e.instancePath;
  const inMatrix = /^\/stages\/[^/]+\/matrix(\/|$)/.test(ptr);
  const name = dotted(ptr) || 'the pipeline file';
  const leaf = ptr.slice(ptr.lastIndexOf('/') + 1);
  const propertyName = (e as ErrorObject & { propertyName?: string }).propertyName;
  if (propertyName !== undefined) {
    const at = keyOrValue(doc, childPointer(ptr, propertyName));
    if (ptr === '/stages') {
      diags.error('schema', `invalid stage id \`${propertyName}\`: ids start with a letter or \`_\` and contain only letters, digits, \`_\` and \`-\``, at);
      return 'schema';
    }
    const reason = inMatrix ? 'bad-matrix' : 'schema';
    diags.error(reason, `invalid name \`${propertyName}\` in \`${name}\`: use letters, digits and \`_\`${ptr.endsWith('/env') ? '' : ', `-`'}`, at);
    return reason;
  }
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty?: string }).additionalProperty);
      const allowed = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object);
      const where = ptr === '' ? 'at the top level' : /^\/stages\/[^/]+$/.test(ptr) ? `in stage \`${leaf}\`` : `in \`${name}\``;
      diags.error('unknown-key', `unknown key \`${key}\` ${where}`, keyOrValue(doc, childPointer(ptr, key)), { hint: hintFor(key, allowed) });
      return 'unknown-key';
    }
    case 'type': {
      const reason = inMatrix ? 'bad-matrix' : 'schema';
      diags.error(reason, `\`${name}\` must be ${typeWords(e.schema)}, got ${describe(e.data)}`, valueAt(doc, ptr));
      return reason;
    }
    case 'pattern':
    case 'minimum':
    case 'exclusiveMinimum': {
      if (leaf === 'memory' || leaf === 'timeout') {
        const what = leaf === 'memory' ? 'memory size' : 'timeout';
        const example = leaf === 'memory' ? 'a number of MiB or a string like `512MiB`, `4GiB`' : 'seconds (> 0) or a string like `90s`, `30m`, `2h`, `1h30m`';
        diags.error('bad-value', `bad ${what} \`${String(e.data)}\` in \`${name}\`: use ${example}`, valueAt(doc, ptr));
        return 'bad-value';
      }
      if (inMatrix && e.keyword === 'pattern') {
        diags.error('bad-matrix', `matrix key \`${leaf}\` must be a list of values or one \`\${{ ... }}\` expression yielding a list, got \`${String(e.data)}\``, valueAt(doc, ptr));
        return 'bad-matrix';
      }
      diags.error(inMatrix ? 'bad-matrix' : 'schema', `\`${name}\` ${e.message ?? 'is invalid'}`, valueAt(doc, ptr));
      return inMatrix ? 'bad-matrix' : 'schema';
    }
    case 'minItems':
    case 'minProperties': {
      const reason = inMatrix ? 'bad-matrix' : 'schema';
      const what = e.keyword === 'minItems' ? 'an empty list' : 'an empty mapping';
      diags.error(reason, `\`${name}\` must not be ${what}`, valueAt(doc, ptr));
      return reason;
    }
    default: {
      const reason = inMatrix ? 'bad-matrix' : 'schema';
      diags.error(reason, `\`${name}\` ${e.message ?? 'is invalid'}`, valueAt(doc, ptr));
      return reason;
    }
  }
}

/**
 * Report a kind's `with:` schema errors. `withPtr` points at the stage's `with` in `doc`
 * (values produced by an expression point at that expression's string, the nearest node).
 */
export function reportKindErrors(errors: readonly ErrorObject[], kind: string, doc: LocatedDoc, withPtr: string, fallbackKeyPtr: string, diags: Diags): void {
  const hasWith = doc.locs.has(withPtr);
  for (const e of errors) {
    const ptr = withPtr + e.instancePath;
    const name = e.instancePath === '' ? '`with`' : `param \`${dotted(e.instancePath)}\``;
    const at = (p: string): ReturnType<typeof valueAt> => (hasWith ? valueAt(doc, p) : keyOrValue(doc, fallbackKeyPtr));
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty?: string }).additionalProperty);
        const allowed = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object);
        const loc = hasWith ? keyOrValue(doc, childPointer(ptr, key)) : keyOrValue(doc, fallbackKeyPtr);
        diags.error('bad-params', `unknown param \`${key}\` for kind \`${kind}\``, loc, { hint: hintFor(key, allowed) });
        break;
      }
      case 'required': {
        const missing = String((e.params as { missingProperty?: string }).missingProperty);
        const loc = hasWith ? (locate(doc, ptr).key ?? valueAt(doc, ptr)) : keyOrValue(doc, fallbackKeyPtr);
        diags.error('bad-params', `missing required param \`${missing}\` for kind \`${kind}\`${e.instancePath ? ` in ${name}` : ''}`, loc);
        break;
      }
      case 'type':
        diags.error('bad-params', `${name} of kind \`${kind}\` must be ${typeWords(e.schema)}, got ${describe(e.data)}`, at(ptr));
        break;
      default:
        diags.error('bad-params', `${name} of kind \`${kind}\` ${e.message ?? 'is invalid'}`, at(ptr));
    }
  }
}
