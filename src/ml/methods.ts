/**
 * The study's methods as data: what trains, which optimizer, which prompts.
 *
 * | method       | trains                         | optimizer | backbone mode |
 * | linear       | head                           | SGD       | eval          |
 * | ft           | backbone + head                | AdamW     | train         |
 * | vpt-shallow  | input prompts + head           | SGD       | eval          |
 * | vpt-deep     | per-layer prompts + head       | SGD       | eval          |
 * | mixed        | deep prompts + backbone + head | SGD       | train         |
 * | ft-then-pt   | phase 1 as ft (no prompts), phase 2 as vpt-deep on the FT weights (head carried over) |
 *
 * FT-then-PT epoch split (PROTOCOL.md: "200 epochs in all"): by default half FT, half PT
 * (`ftEpochs` overrides); each phase has its own warm-up + cosine schedule and a fresh optimizer.
 */
import type { PromptMode } from './config.js';
import type { OptimizerKind } from './optim.js';
import type { ModelMode } from './vit.js';

export const METHODS = ['linear', 'ft', 'vpt-shallow', 'vpt-deep', 'mixed', 'ft-then-pt'] as const;
export type Method = (typeof METHODS)[number];

export const isMethod = (s: unknown): s is Method => typeof s === 'string' && (METHODS as readonly string[]).includes(s);

/** Whether the method needs prompts, and of which kind. */
export function methodPrompts(m: Method): PromptMode | undefined {
  if (m === 'vpt-shallow') return 'shallow';
  if (m === 'vpt-deep' || m === 'mixed' || m === 'ft-then-pt') return 'deep';
  return undefined;
}

/** PROTOCOL.md: prompt dropout 0.1 for VPT-deep, 0 for shallow. */
export const defaultPromptDropout = (m: Method): number => (methodPrompts(m) === 'deep' ? 0.1 : 0);

export const defaultOptimizer = (m: Method): OptimizerKind => (m === 'ft' ? 'adamw' : 'sgd');

export function methodMode(m: Exclude<Method, 'ft-then-pt'>): ModelMode {
  switch (m) {
    case 'linear': return { trainBackbone: false, trainPrompts: false, trainHead: true, usePrompts: false };
    case 'ft': return { trainBackbone: true, trainPrompts: false, trainHead: true, usePrompts: false };
    case 'vpt-shallow':
    case 'vpt-deep': return { trainBackbone: false, trainPrompts: true, trainHead: true, usePrompts: true };
    case 'mixed': return { trainBackbone: true, trainPrompts: true, trainHead: true, usePrompts: true };
  }
}

export interface PhaseSettings {
  readonly epochs: number;
  readonly warmupEpochs: number;
  readonly baseLr: number;
  readonly weightDecay: number;
}

export interface Phase extends PhaseSettings {
  readonly name: string;
  /** First global epoch of the phase. */
  readonly start: number;
  readonly optimizer: OptimizerKind;
  readonly mode: ModelMode;
}

/**
 * The phases of a run. `main` is the method's own settings (for ft-then-pt: the PT phase);
 * `ft` gives the FT phase of ft-then-pt (epochs default: half of main.epochs, the rest PT).
 */
export function planPhases(method: Method, main: PhaseSettings, ft?: Partial<PhaseSettings>): Phase[] {
  if (method !== 'ft-then-pt') {
    return [{ name: method, start: 0, optimizer: defaultOptimizer(method), mode: methodMode(method), ...main }];
  }
  const ftEpochs = ft?.epochs ?? Math.floor(main.epochs / 2);
  const ptEpochs = main.epochs - ftEpochs;
  return [
    { name: 'ft', start: 0, optimizer: 'adamw', mode: methodMode('ft'), epochs: ftEpochs, warmupEpochs: ft?.warmupEpochs ?? Math.min(5, ftEpochs),
      baseLr: ft?.baseLr ?? 0.0005, weightDecay: ft?.weightDecay ?? main.weightDecay },
    { name: 'pt', start: ftEpochs, optimizer: 'sgd', mode: methodMode('vpt-deep'), epochs: ptEpochs, warmupEpochs: Math.min(main.warmupEpochs, ptEpochs),
      baseLr: main.baseLr, weightDecay: main.weightDecay },
  ].filter((p) => p.epochs > 0) as Phase[];
}
