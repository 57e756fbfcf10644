// The fenced code blocks of the Markdown docs (README.md, docs/**, bench/README.md), as a user would copy them:
// each with its file, line, language and whether the line before it marks it as a fragment.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repo } from './arbor-run.js';

export interface DocBlock {
  /** Relative to the repository root: `docs/guides/workers.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string's first word: `js`, `ts`, `sh`, `text`, … ('' when none). */
  lang: string;
  code: string;
  /** Preceded by `<!-- fragment -->` (a piece of a larger program, shown, not run). */
  fragment: boolean;
}

/** Every Markdown file of the documentation, relative to the repository root. */
export function docFiles(): string[] {
  const docs = readdirSync(join(repo, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  return ['README.md', 'bench/README.md', ...docs.sort()];
}

/** The fenced blocks of one Markdown file (fences of three or more backticks, indented or not). */
export function blocksOf(file: string): DocBlock[] {
  const lines = readFileSync(join(repo, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!); j++)
      body.push(lines[j]!.slice(indent!.length));
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    blocks.push({
      file: relative(repo, join(repo, file)),
      line: i + 1,
      lang: info!.trim().split(/\s+/)[0] ?? '',
      code: body.length > 0 ? `${body.join('\n')}\n` : '',
      fragment: k >= 0 && /^\s*<!--\s*fragment\b.*-->\s*$/.test(lines[k]!),
    });
    i = j;
  }
  return blocks;
}

/** The js block of `file` that contains `marker`, exactly as written. */
export function docSnippet(file: string, marker: string): string {
  const block = blocksOf(file).find((b) => b.lang === 'js' && b.code.includes(marker));
  if (!block) throw new Error(`${file} has no js block with ${marker}`);
  return block.code;
}
