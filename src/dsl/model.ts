import type { Diagnostic, SourceRange } from './diagnostic.js';

/**
 * The expanded pipeline: what the DSL hands to the planner. Every `matrix:` is expanded,
 * every `${{ }}` reference is resolved, every path is workspace-relative and normalised.
 */
export interface Pipeline {
  /** Pipeline name (from `name:` or the file's base name). */
  readonly name: string;
  /** Absolute path of the main YAML file. */
  readonly file: string;
  /** Absolute path of the workspace root (the folder holding `.vpt/`); defaults to the YAML's folder. */
  readonly workspace: string;
  /** Fully merged params (params files, inline `params:`, then `--set`). */
  readonly params: Readonly<Record<string, unknown>>;
  /** Stages in a stable order (declaration order, matrix cells in expansion order). */
  readonly stages: readonly Stage[];
  /** Every file the pipeline was read from (main file, includes, params files), absolute. */
  readonly files?: readonly string[];
  /** Warnings of the load (the pipeline is usable); shown by the CLI. */
  readonly warnings?: readonly Diagnostic[];
}

export type Stage = BuiltinStage | CommandStage;

interface StageBase {
  /** Stable id, e.g. `prep` or `train[task=dtd,method=vpt-deep]`. */
  readonly id: string;
  /** The id of the YAML stage it was expanded from (`train`), same as `id` without a matrix. */
  readonly template: string;
  /** Matrix cell values for expanded stages (empty otherwise). */
  readonly matrix: Readonly<Record<string, string | number | boolean>>;
  /** Ids of stages this one depends on: explicit `needs:` plus every output reference. Sorted. */
  readonly needs: readonly string[];
  /**
   * Inputs whose content counts in the fingerprint, workspace-relative, sorted:
   * upstream outputs referenced anywhere in the stage, plus `deps:` of command stages.
   */
  readonly inputs: readonly StageInput[];
  /** Declared outputs: name -> workspace-relative path. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Environment variables set for the stage; their values count in the fingerprint. */
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly retries: number;
  /** Seconds; undefined means no timeout. */
  readonly timeoutSeconds: number | undefined;
  /**
   * The pipeline params this stage referenced, by dotted path (`train.lr` -> 0.05). Their values
   * already count through `with:` or the command; this names them when explaining a rerun.
   */
  readonly paramsUsed?: Readonly<Record<string, unknown>>;
  /**
   * Where the stage goes under `--executor slurm` (pipeline `slurm:`/`defaults.slurm` merged with
   * the stage's own). Not part of the fingerprint: where a stage runs does not change its result.
   */
  readonly slurm?: SlurmSettings;
  /** Where the stage was declared, for messages. */
  readonly location: SourceRange;
}

export interface StageInput {
  readonly path: string;
  /** Present when the input is another stage's output. */
  readonly fromStage?: string;
  readonly fromOutput?: string;
}

export interface Resources {
  readonly cpu: number;
  readonly gpu: number;
  /** Mebibytes. */
  readonly memoryMiB: number;
}

export interface SlurmSettings {
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  /** Extra `sbatch` flags, e.g. `--constraint=a100`; pipeline-level ones first, then the stage's. */
  readonly extraArgs?: readonly string[];
}

export interface BuiltinStage extends StageBase {
  readonly type: 'builtin';
  /** Registered kind name, e.g. `data.mini-vtab`. */
  readonly uses: string;
  /** The resolved `with:` params (references already substituted). */
  readonly with: Readonly<Record<string, unknown>>;
}

export interface CommandStage extends StageBase {
  readonly type: 'command';
  /** argv form when `shell` is false; a single string given to `sh -c` when `shell` is true. */
  readonly command: readonly string[] | string;
  readonly shell: boolean;
}
