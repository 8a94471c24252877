/**
 * Matrix expansion with GitHub Actions semantics: the product of the declared keys (first key
 * varies slowest), minus every combination matching an `exclude` entry, then each `include`
 * entry is merged into every combination whose original values it does not overwrite; an
 * entry that merges into none becomes a new combination.
 */
export type MatrixScalar = string | number | boolean;

export interface MatrixSpec {
  /** Declared keys in declaration order with their values. */
  readonly keys: readonly (readonly [string, readonly MatrixScalar[]])[];
  readonly exclude: readonly Readonly<Record<string, MatrixScalar>>[];
  readonly include: readonly Readonly<Record<string, MatrixScalar>>[];
}

export interface MatrixCell {
  readonly values: Readonly<Record<string, MatrixScalar>>;
  /** The cell's keys in id order: declared keys first, then include-only keys by first appearance. */
  readonly keys: readonly string[];
}

export function expandMatrix(spec: MatrixSpec): MatrixCell[] {
  const declared = spec.keys.map(([k]) => k);
  // Product, first key slowest.
  let combos: Record<string, MatrixScalar>[] = spec.keys.length > 0 ? [{}] : [];
  for (const [k, values] of spec.keys) {
    const next: Record<string, MatrixScalar>[] = [];
    for (const c of combos) for (const v of values) next.push({ ...c, [k]: v });
    combos = next;
  }
  combos = combos.filter((c) => !spec.exclude.some((ex) => Object.entries(ex).every(([k, v]) => c[k] === v)));
  const declaredSet = new Set(declared);
  // Includes compare against the original values; copy only when there are includes.
  const original = spec.include.length > 0 ? combos.map((c) => ({ ...c })) : combos;
  const added: Record<string, MatrixScalar>[] = [];
  for (const inc of spec.include) {
    let merged = false;
    for (let i = 0; i < combos.length; i++) {
      const orig = original[i] as Record<string, MatrixScalar>;
      const fits = Object.entries(inc).every(([k, v]) => !declaredSet.has(k) || orig[k] === v);
      if (fits) {
        Object.assign(combos[i] as Record<string, MatrixScalar>, inc);
        merged = true;
      }
    }
    if (!merged) added.push({ ...inc });
  }
  const extraKeys: string[] = [];
  for (const inc of spec.include) for (const k of Object.keys(inc)) if (!declaredSet.has(k) && !extraKeys.includes(k)) extraKeys.push(k);
  const order = [...declared, ...extraKeys];
  const shared = new Map<string, string[]>();
  return [...combos, ...added].map((values) => {
    const keys = order.filter((k) => k in values);
    const name = keys.join('\u0000');
    let same = shared.get(name);
    if (!same) shared.set(name, (same = keys));
    return { values, keys: same };
  });
}

/** `train[task=dtd,method=vpt-deep]`, or just the template id for a matrix-less stage. */
export function cellId(template: string, cell: MatrixCell | undefined): string {
  if (!cell || cell.keys.length === 0) return template;
  return `${template}[${cell.keys.map((k) => `${k}=${String(cell.values[k])}`).join(',')}]`;
}
