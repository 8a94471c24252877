#!/usr/bin/env node
/**
 * `pipeline`: the command line. Thin: each command parses its options and calls the folders
 * that do the work. Exit codes: 0 ok, 1 a stage failed, 2 invalid pipeline or command line,
 * 130 interrupted.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { CliExit, EXIT } from './exit-codes.js';
import { VERSION } from '../version.js';

// Each command's module is imported when the command runs: start-up loads one command's code.

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function pipelineOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <pipeline.yaml>', 'the pipeline file (default: the first argument if it ends in .yaml, else ./pipeline.yaml)')
    .option('--set <path=value>', 'override a param, e.g. --set train.epochs=5 (repeatable)', collect)
    .option('--params <file>', 'an extra params file merged over the pipeline\'s own (repeatable)', collect);
}

export function buildProgram(): Command {
  const program = new Command('pipeline')
    .description('Declarative, cached, resumable ML pipelines: the VPT vs full fine-tuning study, reproducibly.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  pipelineOptions(
    program
      .command('run')
      .description('run the stages that are out of date, in dependency order, restoring what the cache already has')
      .argument('[file-and-targets...]', 'pipeline file, then stage ids, template ids or globs (`train[*method=vpt*]`)')
      .option('--from <stage>', 'only this stage and everything downstream of it (repeatable)', collect)
      .option('--until <stage>', 'only this stage and everything it needs (repeatable)', collect)
      .option('--only <stage>', 'only this stage, taking its inputs from the cache (repeatable)', collect)
      .option('--force', 'run the named stages (or all selected) even if they are up to date')
      .option('-n, --dry-run', 'show what would run and why, run nothing')
      .option('-j, --jobs <n>', 'stages run at once (default: number of CPUs)')
      .option('-k, --keep-going', 'after a failure, go on with stages that do not depend on it')
      .option('--backend <name>', 'TensorFlow.js backend for ML stages: tensorflow-gpu, tensorflow, wasm, cpu (env VPT_BACKEND)')
      .addOption(new Option('--executor <name>', 'where stages run').choices(['local', 'slurm']).default('local'))
      .option('--json', 'print events as JSON lines')
      .option('--wait', 'if another run holds this workspace, wait for it instead of refusing')
      .option('--cpus <n>', 'CPU slots for resource scheduling (default: number of CPUs)')
      .option('--gpus <n>', 'GPU slots (default: env VPT_GPUS or 0); with --estimate: GPUs (per node with --nodes), one training each')
      .option('--memory <MiB>', 'memory slots in MiB (default: total memory)')
      .option('-v, --verbose', 'also list up-to-date stages')
      .option('--estimate', 'run nothing: estimate the compute the selected training stages take (data need not exist); with --gpus N / --nodes N the wall time on N trainings at once')
      .option('--per-image-ms <ms>', 'with --estimate: measured time of one image of an FT training step of the pipeline\'s model')
      .option('--per-step-ms <ms>', 'with --estimate: measured time of one FT training step (at --step-batch images, default the FT stages\' batch)')
      .option('--step-batch <n>', 'with --per-step-ms: the batch size of the measured step')
      .option('--calibrate', 'with --estimate: time a few training steps of the model here, on --backend, and use that speed')
      .option('--nodes <n>', 'with --estimate: Slurm nodes (times --gpus per node, if given) running trainings at once'),
  ).action(async (args: string[], opts) => finish(await (await import('./commands/run.js')).runCommand(args, opts)));

  pipelineOptions(
    program
      .command('status')
      .description('explain, for each stage that is not up to date, exactly why')
      .argument('[file-and-targets...]')
      .option('--json', 'machine-readable')
      .option('-a, --all', 'list up-to-date stages too')
      .option('--backend <name>', 'judge as for a run with this TensorFlow.js backend (its defaults, e.g. workers, are in the cache keys; env VPT_BACKEND)'),
  ).action(async (args: string[], opts) => finish(await (await import('./commands/status.js')).statusCommand(args, opts)));

  pipelineOptions(
    program
      .command('validate')
      .description('check the pipeline file (every error with file:line:col), then that each stage has its data (exit 1 if not)')
      .argument('[file]')
      .option('--no-data', 'check the file only, not the data its stages need'),
  ).action(
    async (args: string | undefined, opts) => finish(await (await import('./commands/validate.js')).validateCommand(args ? [args] : [], opts)),
  );

  pipelineOptions(
    program
      .command('graph')
      .description('print the stage DAG as Mermaid or Graphviz DOT')
      .argument('[file]')
      .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'dot']).default('mermaid')),
  ).action(async (args: string | undefined, opts) => finish(await (await import('./commands/graph.js')).graphCommand(args ? [args] : [], opts)));

  pipelineOptions(
    program
      .command('show')
      .description('show one stage: params, fingerprint inputs, outputs, last run, log')
      .argument('<file-or-stage>', 'pipeline file (default ./pipeline.yaml), then the stage')
      .argument('[stage]', 'stage id (or a pattern matching exactly one stage)')
      .option('--json', 'machine-readable'),
  ).action(async (first: string, second: string | undefined, opts) =>
    finish(await (await import('./commands/show.js')).showCommand(second ?? first, second !== undefined && opts.file === undefined ? { ...opts, file: first } : opts)),
  );

  pipelineOptions(
    program
      .command('verify')
      .description('check the workspace against the lock file; with --rerun, run the stages again and compare (for reviewers)')
      .argument('[file-and-targets...]')
      .option('--rerun', 'run the stages again and compare outputs and metrics with the lock')
      .option('--rel-tol <x>', 'relative tolerance for every metric (default: each kind\'s own, else exact)')
      .option('--abs-tol <x>', 'absolute tolerance for every metric (default: each kind\'s own, else exact)')
      .option('--tol <metric=x>', 'absolute tolerance for one metric, e.g. --tol test_top1=0.005 (repeatable)', collect)
      .option('-j, --jobs <n>', 'stages run at once with --rerun')
      .option('--backend <name>', 'TensorFlow.js backend with --rerun')
      .option('--json', 'machine-readable'),
  ).action(async (args: string[], opts) => finish(await (await import('./commands/verify.js')).verifyCommand(args, opts)));

  pipelineOptions(
    program
      .command('gc')
      .description('remove cached results the lock file does not reference, or cap the store by size or age')
      .argument('[file]')
      .option('--max-size <size>', 'keep the store under this size, e.g. 20GiB (evicts least recently used first)')
      .option('--max-age <age>', 'drop unreferenced results older than this, e.g. 30d')
      .option('-n, --dry-run', 'say what would be removed'),
  ).action(async (args: string | undefined, opts) => finish(await (await import('./commands/gc.js')).gcCommand(args ? [args] : [], opts)));

  pipelineOptions(
    program
      .command('clean')
      .description('remove stage outputs from the workspace (the store keeps them; run restores them)')
      .argument('[file-and-targets...]')
      .option('-n, --dry-run', 'say what would be removed'),
  ).action(async (args: string[], opts) => finish(await (await import('./commands/clean.js')).cleanCommand(args, opts)));

  return program;
}

let exitCode: number = EXIT.ok;
function finish(code: number): void {
  exitCode = code;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 2.
      return e.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    if (e instanceof CliExit) {
      if (e.message) process.stderr.write(`error: ${e.message}\n`);
      return e.code;
    }
    process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.stageFailed;
  }
}

// Runs when this file is the program (`node dist/cli/main.js`), not when imported: by tests, or
// by bin/pipeline, the launcher npm puts on the PATH.
if (isMainModule()) {
  const code = await main(process.argv.slice(2));
  // Exit explicitly: a renderer or a backend may leave handles open. But first let a pipe take
  // everything written: process.exit drops what a pipe has not read yet (`pipeline graph
  // vtab-full.yaml | ...` stopped at 64 KiB).
  await new Promise<void>((done) => {
    // A reader that went away (`| head`) takes nothing more: exit then too.
    process.stdout.once('error', () => done());
    process.stdout.write('', () => done());
  });
  process.exit(code);
}

function isMainModule(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
