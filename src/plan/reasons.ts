/** Why the planner decided what it did, one discriminated union so every renderer is a switch. */
export type Reason =
  | { readonly type: 'up-to-date' }
  | { readonly type: 'new-stage' }
  | { readonly type: 'forced' }
  | { readonly type: 'no-record'; readonly detail: string }
  | { readonly type: 'param-changed'; readonly path: string; readonly from: unknown; readonly to: unknown }
  | { readonly type: 'input-changed'; readonly path: string }
  | { readonly type: 'input-added'; readonly path: string }
  | { readonly type: 'input-removed'; readonly path: string }
  | { readonly type: 'kind-changed'; readonly from: string; readonly to: string }
  | { readonly type: 'kind-version-changed'; readonly kind: string; readonly from: number; readonly to: number }
  | { readonly type: 'code-changed'; readonly kind: string }
  | { readonly type: 'command-changed'; readonly from: string; readonly to: string }
  | { readonly type: 'env-changed'; readonly name: string; readonly from: string | undefined; readonly to: string | undefined }
  | { readonly type: 'output-moved'; readonly name: string; readonly from: string | undefined; readonly to: string | undefined }
  | { readonly type: 'engine-changed' }
  | { readonly type: 'output-missing'; readonly name: string; readonly path: string }
  | { readonly type: 'output-modified'; readonly name: string; readonly path: string }
  | { readonly type: 'cache-corrupt'; readonly name: string; readonly detail: string }
  | { readonly type: 'cache-missing'; readonly name: string }
  | { readonly type: 'upstream-will-run'; readonly stage: string }
  | { readonly type: 'not-selected' };

export function describeReason(reason: Reason): string {
  switch (reason.type) {
    case 'up-to-date':
      return 'up to date';
    case 'new-stage':
      return 'new stage (never run)';
    case 'forced':
      return 'forced';
    case 'no-record':
      return reason.detail;
    case 'param-changed':
      return `param ${reason.path} ${show(reason.from)} -> ${show(reason.to)}`;
    case 'input-changed':
      return `input ${reason.path} changed`;
    case 'input-added':
      return `new input ${reason.path}`;
    case 'input-removed':
      return `input ${reason.path} removed`;
    case 'kind-changed':
      return `kind ${reason.from} -> ${reason.to}`;
    case 'kind-version-changed':
      return `kind ${reason.kind} version ${reason.from} -> ${reason.to}`;
    case 'code-changed':
      return `code of ${reason.kind} changed`;
    case 'command-changed':
      return `command changed: ${reason.from} -> ${reason.to}`;
    case 'env-changed':
      return `env ${reason.name} ${show(reason.from)} -> ${show(reason.to)}`;
    case 'output-moved':
      return `output ${reason.name} path ${show(reason.from)} -> ${show(reason.to)}`;
    case 'engine-changed':
      return 'fingerprint format changed (engine upgrade)';
    case 'output-missing':
      return `output ${reason.path} missing`;
    case 'output-modified':
      return `output ${reason.path} modified since it was made`;
    case 'cache-corrupt':
      return `cached ${reason.name} is corrupt (${reason.detail}); rebuilding`;
    case 'cache-missing':
      return `cached ${reason.name} is gone from the store (gc?)`;
    case 'upstream-will-run':
      return `upstream ${reason.stage} will run`;
    case 'not-selected':
      return 'not selected';
  }
}

function show(value: unknown): string {
  if (value === undefined) return '(unset)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
