/**
 * What a TensorFlow.js graph model's `model.json` says about it, read without TensorFlow.js (for
 * the checks before a run): its weight files, its input shape and, when the converter recorded a
 * signature, its output width. So a wrong or half-copied FID network is named before hours of
 * data preparation, not at the first batch.
 */
import { access, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { err, ok, type Result } from '../../util/result.js';
import type { GraphModelError } from './graph-model.js';

export interface GraphModelFacts {
  /** [batch, H, W, C] with -1 (or undefined) for a free dimension, when the file records it. */
  readonly inputShape?: readonly number[];
  /** Features per image (the product of the output's non-batch dimensions), when recorded and known. */
  readonly outputWidth?: number;
  /** Weight files listed by the manifest that are not next to model.json. */
  readonly missingShards: readonly string[];
}

interface TensorInfo { readonly tensorShape?: { readonly dim?: readonly { readonly size?: string | number }[] } }
interface ModelJsonShape {
  readonly format?: string;
  readonly modelTopology?: { readonly node?: readonly { readonly op?: string; readonly attr?: { readonly shape?: { readonly shape?: TensorInfo['tensorShape'] } } }[] };
  readonly signature?: { readonly inputs?: Record<string, TensorInfo>; readonly outputs?: Record<string, TensorInfo> };
  readonly userDefinedMetadata?: { readonly signature?: ModelJsonShape['signature'] };
  readonly weightsManifest?: readonly { readonly paths?: readonly string[] }[];
}

const dims = (shape: TensorInfo['tensorShape']): number[] | undefined => shape?.dim?.map((d) => Number(d.size ?? -1));

export async function inspectGraphModelJson(modelJsonPath: string): Promise<Result<GraphModelFacts, GraphModelError>> {
  let json: ModelJsonShape;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as ModelJsonShape;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return err({ reason: missing ? 'unreadable' : 'bad-model', message: `${modelJsonPath}: ${missing ? 'does not exist' : (e as Error).message}`, path: modelJsonPath });
  }
  if (json.format !== undefined && json.format !== 'graph-model') {
    return err({ reason: 'bad-model', message: `${modelJsonPath}: format "${json.format}", not a graph model (convert with tensorflowjs_converter, see docs/vtab-full.md)`, path: modelJsonPath });
  }
  if (!Array.isArray(json.modelTopology?.node)) return err({ reason: 'bad-model', message: `${modelJsonPath}: no graph (modelTopology.node)`, path: modelJsonPath });
  const missingShards: string[] = [];
  for (const group of json.weightsManifest ?? []) {
    for (const p of group.paths ?? []) if (!(await access(join(dirname(modelJsonPath), p)).then(() => true, () => false))) missingShards.push(p);
  }
  const signature = json.signature ?? json.userDefinedMetadata?.signature;
  const firstInput = signature?.inputs ? Object.values(signature.inputs)[0] : undefined;
  const inputShape = dims(firstInput?.tensorShape) ?? dims(json.modelTopology.node.find((n) => n.op === 'Placeholder')?.attr?.shape?.shape);
  const firstOutput = signature?.outputs ? Object.values(signature.outputs)[0] : undefined;
  const outDims = dims(firstOutput?.tensorShape)?.slice(1);
  const outputWidth = outDims && outDims.length > 0 && outDims.every((d) => d > 0) ? outDims.reduce((a, b) => a * b, 1) : undefined;
  return ok({ ...(inputShape ? { inputShape } : {}), ...(outputWidth !== undefined ? { outputWidth } : {}), missingShards });
}

/** The problems that keep a graph model from serving as the FID network with these settings. */
export function graphModelProblems(facts: GraphModelFacts, expect: { readonly inputSize: readonly [number, number]; readonly width: number }): string[] {
  const problems: string[] = [];
  if (facts.missingShards.length > 0) problems.push(`weight file(s) missing next to model.json: ${facts.missingShards.join(', ')}`);
  const s = facts.inputShape;
  if (s && s.length !== 4) problems.push(`its input has ${s.length} dimensions, not [batch, H, W, 3]`);
  else if (s) {
    const [, h, w, c] = s as [number, number, number, number];
    const fixed = (d: number, want: number): boolean => d > 0 && d !== want;
    if (fixed(h, expect.inputSize[0]) || fixed(w, expect.inputSize[1])) problems.push(`its input is ${h}x${w}, the stage feeds ${expect.inputSize.join('x')} (set features.inputSize)`);
    if (fixed(c, 3)) problems.push(`its input has ${c} channels, not 3 (RGB)`);
    if ((s[0] ?? -1) > 0) problems.push(`its batch size is fixed at ${s[0]} (convert with a free batch dimension, see docs/vtab-full.md)`);
  }
  if (facts.outputWidth !== undefined && facts.outputWidth !== expect.width) {
    problems.push(`it gives ${facts.outputWidth} features per image, not ${expect.width} (Inception-v3 pool_3 gives 2048; set features.width for another network)`);
  }
  return problems;
}
