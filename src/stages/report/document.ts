/** One list of blocks, rendered both as Markdown and as a self-contained HTML page (figures inline as SVG). */
export type Block =
  | { readonly kind: 'h'; readonly level: 1 | 2 | 3; readonly text: string }
  | { readonly kind: 'p'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'table'; readonly head: readonly string[]; readonly rows: ReadonlyArray<readonly string[]>; readonly numeric?: readonly boolean[] }
  | { readonly kind: 'figure'; readonly title: string; readonly svg: string; readonly svgFile: string; readonly pngFile: string };

const mdCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(blocks: readonly Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'h': out.push(`${'#'.repeat(b.level)} ${b.text}`, ''); break;
      case 'p': out.push(b.text, ''); break;
      case 'list': out.push(...b.items.map((i) => `- ${i}`), ''); break;
      case 'table':
        out.push(`| ${b.head.map(mdCell).join(' | ')} |`);
        out.push(`| ${b.head.map((_, i) => (b.numeric?.[i] ? '---:' : '---')).join(' | ')} |`);
        for (const r of b.rows) out.push(`| ${r.map(mdCell).join(' | ')} |`);
        out.push('');
        break;
      case 'figure': out.push(`![${b.title}](${b.pngFile})`, '', `*${b.title}* ([SVG](${b.svgFile}))`, ''); break;
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Inline `code` spans only: the Markdown text stays readable as HTML. */
const inline = (s: string): string => escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');

export function toHtml(title: string, blocks: readonly Block[]): string {
  const body: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'h': body.push(`<h${b.level}>${inline(b.text)}</h${b.level}>`); break;
      case 'p': body.push(`<p>${inline(b.text)}</p>`); break;
      case 'list': body.push(`<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`); break;
      case 'table': {
        const cls = (i: number): string => (b.numeric?.[i] ? ' class="num"' : '');
        body.push(`<table><thead><tr>${b.head.map((h, i) => `<th${cls(i)}>${inline(h)}</th>`).join('')}</tr></thead><tbody>${b.rows
          .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${inline(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`);
        break;
      }
      case 'figure': body.push(`<figure>${b.svg.replace(/^<\?xml[^>]*>\s*/, '')}<figcaption>${inline(b.title)}</figcaption></figure>`); break;
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:"DejaVu Sans",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1.5em 0}figcaption{font-style:italic;color:#555}
code{background:#f5f5f5;padding:0 3px}svg{max-width:100%;height:auto}
</style></head><body>
${body.join('\n')}
</body></html>
`;
}
