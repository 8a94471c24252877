/**
 * Headless figures: Vega-Lite spec -> Vega View (renderer 'none', no canvas or browser) -> SVG,
 * then SVG -> PNG with sharp (librsvg; text needs a system font, fonts-dejavu-core on Debian).
 * Spec builders for the study's figures live here too, so the report and the quadrant stage draw
 * the same way.
 */
import type { TopLevelSpec } from 'vega-lite';

export interface Figure {
  readonly name: string;
  readonly title: string;
  readonly svg: string;
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
}

export type PlotError = { readonly reason: 'render'; readonly message: string; readonly figure: string };

import { err, ok, type Result } from '../../util/result.js';

/** Renders a Vega-Lite spec to SVG and PNG (PNG at `scale` x the SVG's size). */
export async function renderFigure(name: string, title: string, spec: TopLevelSpec, scale = 1): Promise<Result<Figure, PlotError>> {
  try {
    const [vega, vl, sharpMod] = await Promise.all([import('vega'), import('vega-lite'), import('sharp')]);
    const compiled = vl.compile(spec).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    const svg = await view.toSVG(scale);
    view.finalize();
    const size = svgSize(svg);
    if (!size) return err({ reason: 'render', message: 'rendered SVG has no width/height', figure: name });
    const png = await sharpMod.default(Buffer.from(svg), { density: 72 }).png().toBuffer();
    return ok({ name, title, svg, png, width: size.width, height: size.height });
  } catch (e) {
    return err({ reason: 'render', message: (e as Error).message, figure: name });
  }
}

/** The width and height attributes of an SVG's root element. */
export function svgSize(svg: string): { width: number; height: number } | undefined {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0];
  if (!root) return undefined;
  const w = /\swidth="([\d.]+)"/.exec(root)?.[1];
  const h = /\sheight="([\d.]+)"/.exec(root)?.[1];
  if (w === undefined || h === undefined) return undefined;
  return { width: Number(w), height: Number(h) };
}

const FONT = 'DejaVu Sans, sans-serif';
const CONFIG = { font: FONT, background: 'white', view: { stroke: '#ccc' } } as const;
/** Methods in the paper's order wherever they appear on an axis or legend. */
const METHOD_ORDER = ['FT', 'VPT', 'Mixed', 'FT-then-PT', 'VPT-shallow', 'Linear'];

export interface AccuracyPoint { readonly task: string; readonly method: string; readonly trainSize: number; readonly top1: number; readonly std: number }

/** Accuracy vs training-set size per task, one line per method (VPT vs FT). */
export function accuracyVsSizeSpec(points: readonly AccuracyPoint[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: points.map((p) => ({ ...p })) },
    facet: { field: 'task', type: 'nominal', title: null },
    columns: 4,
    spec: {
      width: 160, height: 120,
      layer: [
        { mark: { type: 'line', point: true }, encoding: {
          x: { field: 'trainSize', type: 'quantitative', scale: { type: 'log' }, title: 'training images' },
          y: { field: 'top1', type: 'quantitative', title: 'test top-1 (%)', scale: { zero: false } },
          color: { field: 'method', type: 'nominal', title: 'method', sort: METHOD_ORDER },
        } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface PromptLengthPoint { readonly task: string; readonly mode: 'deep' | 'shallow'; readonly length: number; readonly top1: number; readonly std: number }

/** Test top-1 vs prompt length, one panel per task (scales differ), solid = deep, dashed = shallow. */
export function promptLengthSpec(points: readonly PromptLengthPoint[]): TopLevelSpec {
  // The measured lengths as ticks: a log axis would otherwise label 1, 10, 100 only.
  const lengths = [...new Set(points.map((p) => p.length))].sort((a, b) => a - b);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: points.map((p) => ({ ...p })) },
    facet: { field: 'task', type: 'nominal', title: null },
    columns: 3,
    spec: {
      width: 200, height: 120,
      mark: { type: 'line', point: true },
      encoding: {
        // Not niced to the next power of ten: the axis spans the swept lengths, padded so end points show.
        x: { field: 'length', type: 'quantitative', scale: { type: 'log', nice: false, padding: 8 }, axis: { values: lengths, format: 'd', labelOverlap: false }, title: 'prompt length' },
        y: { field: 'top1', type: 'quantitative', title: 'test top-1 (%)', scale: { zero: false } },
        color: { field: 'mode', type: 'nominal', title: 'prompts', sort: ['deep', 'shallow'] },
        strokeDash: { field: 'mode', type: 'nominal', title: 'prompts', scale: { domain: ['deep', 'shallow'], range: [[1, 0], [5, 3]] } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface GapPoint { readonly task: string; readonly fid: number; readonly gap: number; readonly quadrant: string }

/** FID (x) vs VPT - FT accuracy gap (y), coloured by quadrant, with the FID threshold as a rule. */
export function fidGapSpec(points: readonly GapPoint[], threshold: number | undefined): TopLevelSpec {
  const layers: unknown[] = [
    { mark: { type: 'point', filled: true, size: 80 }, encoding: {
      x: { field: 'fid', type: 'quantitative', title: 'FID to pretraining data' },
      y: { field: 'gap', type: 'quantitative', title: 'VPT - FT top-1 (points)' },
      color: { field: 'quadrant', type: 'nominal', title: 'quadrant' },
      tooltip: [{ field: 'task' }, { field: 'fid' }, { field: 'gap' }],
    } },
    { mark: { type: 'text', dx: 6, align: 'left', fontSize: 9 }, encoding: { x: { field: 'fid', type: 'quantitative' }, y: { field: 'gap', type: 'quantitative' }, text: { field: 'task' } } },
    { data: { values: [{ y: 0 }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
  ];
  if (threshold !== undefined) {
    layers.push({ data: { values: [{ x: threshold }] }, mark: { type: 'rule', strokeDash: [2, 2], color: '#c33' }, encoding: { x: { field: 'x', type: 'quantitative' } } });
  }
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, width: 420, height: 300, data: { values: points.map((p) => ({ ...p })) }, layer: layers } as TopLevelSpec;
}

export interface LossPoint { readonly task: string; readonly method: string; readonly epoch: number; readonly split: 'train' | 'test'; readonly loss: number }

/** Train and test loss per epoch, one panel per task, colour = method, dash = split. */
export function lossCurvesSpec(points: readonly LossPoint[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: points.map((p) => ({ ...p })) },
    facet: { field: 'task', type: 'nominal', title: null },
    columns: 3,
    spec: {
      width: 200, height: 130,
      mark: { type: 'line' },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'loss', type: 'quantitative', title: 'loss' },
        color: { field: 'method', type: 'nominal', title: 'method', sort: METHOD_ORDER },
        strokeDash: { field: 'split', type: 'nominal', title: 'split' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface BarPoint { readonly task: string; readonly method: string; readonly top1: number; readonly std: number }

/** Grouped bars of mean test top-1 per task and method (the ablations), with ±std error bars. */
export function ablationBarsSpec(points: readonly BarPoint[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: points.map((p) => ({ ...p, lo: p.top1 - p.std, hi: p.top1 + p.std })) },
    facet: { field: 'task', type: 'nominal', title: null },
    columns: 4,
    spec: {
      width: 140, height: 120,
      layer: [
        { mark: 'bar', encoding: { x: { field: 'method', type: 'nominal', title: null, sort: METHOD_ORDER }, y: { field: 'top1', type: 'quantitative', title: 'test top-1 (%)' }, color: { field: 'method', type: 'nominal', legend: null, sort: METHOD_ORDER } } },
        { mark: { type: 'errorbar' }, encoding: { x: { field: 'method', type: 'nominal', sort: METHOD_ORDER }, y: { field: 'lo', type: 'quantitative', title: 'test top-1 (%)' }, y2: { field: 'hi' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface QuadrantPoint { readonly task: string; readonly fid: number; readonly disparity: 'low' | 'high'; readonly quadrant: string; readonly mismatch: boolean }

/** Tasks on the two axes: FID (x) and disparity (y band), threshold as a rule, mismatches ringed. */
export function quadrantSpec(points: readonly QuadrantPoint[], threshold: number): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    width: 420, height: 220,
    data: { values: points.map((p) => ({ ...p, flag: p.mismatch ? 'differs from intended' : 'as intended' })) },
    layer: [
      { mark: { type: 'point', filled: true, size: 90 }, encoding: {
        x: { field: 'fid', type: 'quantitative', title: 'FID to pretraining data' },
        y: { field: 'disparity', type: 'nominal', title: 'task disparity', sort: ['high', 'low'] },
        color: { field: 'quadrant', type: 'nominal', title: 'quadrant' },
        shape: { field: 'flag', type: 'nominal', title: 'placement' },
      } },
      { mark: { type: 'text', dy: -10, fontSize: 9 }, encoding: { x: { field: 'fid', type: 'quantitative' }, y: { field: 'disparity', type: 'nominal', sort: ['high', 'low'] }, text: { field: 'task' } } },
      { data: { values: [{ x: threshold }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#c33' }, encoding: { x: { field: 'x', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}
