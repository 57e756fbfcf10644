// A markdown table from a header row and body rows (numbers already formatted).
export function table(header, rows, align = header.map((_, i) => (i === 0 ? 'l' : 'r'))) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const rule = align.map((a) => (a === 'l' ? ':---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}
