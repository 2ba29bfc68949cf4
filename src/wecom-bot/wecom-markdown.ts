/**
 * Rewrites the Markdown a model writes into the subset a WeCom AI bot renders (headings, bold, links,
 * inline code, code blocks, block quotes, flat lists). The rules are documented in docs/wecom-markdown.md:
 * tables become one bullet per row, nested lists are flattened with their parents as a prefix, images
 * become links. Fenced code blocks and inline code are left as they are.
 */

interface Fence {
  marker: string;
  indent: number;
}

interface ListParent {
  indent: number;
  label: string;
}

interface State {
  output: string[];
  fence?: Fence;
  parents: ListParent[];
}

const FENCE_OPEN = /^(\s*)(`{3,}(?=[^`]*$)|~{3,})/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const DELIMITER_CELL = /^:?-+:?$/;
const LINE_BREAK_TAG = /<br\s*\/?>/gi;
const PATH_SEPARATOR = ' › ';
const LABEL_MAX_CHARS = 24;

export function toWeComMarkdown(markdown: string): string {
  const lines = markdown.split(/\r\n|\r|\n/);
  const state: State = { output: [], parents: [] };
  for (let index = 0; index < lines.length;) {
    index = convertBlock(lines, index, state);
  }
  return state.output.join('\n');
}

/** Converts the block starting at `index` and returns the index of the next unconsumed line. */
function convertBlock(lines: string[], index: number, state: State): number {
  const line = lines[index] ?? '';
  if (state.fence) return copyFenced(line, index, state.fence, state);
  const fence = FENCE_OPEN.exec(line);
  if (fence) {
    state.fence = { marker: fence[2] ?? '```', indent: indentOf(fence[1] ?? '') };
    state.output.push(dedent(line, state.fence.indent));
    return index + 1;
  }
  if (isTableStart(lines, index)) return convertTable(lines, index, state);
  const item = LIST_ITEM.exec(line);
  if (item) {
    state.output.push(flattenListItem(item, state.parents));
    return index + 1;
  }
  state.output.push(convertOther(line, state));
  return index + 1;
}

function copyFenced(line: string, index: number, fence: Fence, state: State): number {
  state.output.push(dedent(line, fence.indent));
  if (closesFence(line, fence)) state.fence = undefined;
  return index + 1;
}

function closesFence(line: string, fence: Fence): boolean {
  const trimmed = line.trim();
  const char = fence.marker[0] ?? '`';
  return trimmed.length >= fence.marker.length && [...trimmed].every((c) => c === char);
}

/** A blank line keeps a list open; an indented line continues it; anything else ends it. */
function convertOther(line: string, state: State): string {
  if (line.trim() === '') return line;
  if (state.parents.length > 0 && indentOf(line) > 0) return convertInline(line.trimStart());
  state.parents = [];
  return convertInline(line);
}

// ---- lists ---------------------------------------------------------------------------------------

function flattenListItem(item: RegExpExecArray, parents: ListParent[]): string {
  const indent = indentOf(item[1] ?? '');
  const marker = item[2] ?? '-';
  const text = convertInline(item[3] ?? '');
  while (parents.length > 0 && (parents.at(-1)?.indent ?? 0) >= indent) parents.pop();
  const path = parents.map((parent) => parent.label).filter(Boolean);
  const isTopLevel = parents.length === 0;
  parents.push({ indent, label: labelOf(text) });
  if (isTopLevel) return `${marker} ${text}`.trimEnd();
  const ordinal = /^\d/.test(marker) ? `${marker} ` : '';
  return `- ${[...path, `${ordinal}${text}`].join(PATH_SEPARATOR)}`.trimEnd();
}

/** A parent item as a short plain-text prefix: no emphasis or code marks, no trailing colon. */
function labelOf(text: string): string {
  const plain = text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*\*|__|~~|`|\*/g, '')
    .replace(/[\s:：]+$/u, '')
    .trim();
  const chars = [...plain];
  return chars.length > LABEL_MAX_CHARS ? `${chars.slice(0, LABEL_MAX_CHARS).join('').trimEnd()}…` : plain;
}

// ---- tables --------------------------------------------------------------------------------------

function isTableStart(lines: string[], index: number): boolean {
  const header = lines[index] ?? '';
  const delimiter = lines[index + 1];
  if (delimiter === undefined || !hasPipe(header) || LIST_ITEM.test(header)) return false;
  const cells = splitCells(delimiter);
  return cells.every((cell) => DELIMITER_CELL.test(cell)) && cells.length === splitCells(header).length;
}

function convertTable(lines: string[], index: number, state: State): number {
  const headers = splitCells(lines[index] ?? '');
  let next = index + 2;
  const rows: string[] = [];
  for (; next < lines.length && isTableRow(lines[next] ?? ''); next += 1) {
    const row = tableRowItem(headers, splitCells(lines[next] ?? ''));
    if (row) rows.push(row);
  }
  const headerItem = headers.some(Boolean) ? [`- ${headers.filter(Boolean).join('; ')}`] : [];
  state.output.push(...(rows.length > 0 ? rows : headerItem).map(convertInline));
  // The rows are now a list: what follows continues it, exactly as when the output is read again.
  state.parents = [{ indent: 0, label: '' }];
  // Keeps the next paragraph from becoming a lazy continuation of the last bullet.
  if (next < lines.length && (lines[next] ?? '').trim() !== '') state.output.push('');
  return next;
}

function isTableRow(line: string): boolean {
  return line.trim() !== '' && hasPipe(line) && !FENCE_OPEN.test(line);
}

function tableRowItem(headers: string[], cells: string[]): string | undefined {
  const pairs = cells
    .map((value, column) => ({ header: headers[column] ?? '', value }))
    .filter(({ value }) => value !== '')
    .map(({ header, value }) => (header ? `${header}: ${value}` : value));
  return pairs.length > 0 ? `- ${pairs.join('; ')}` : undefined;
}

/** Cells of a table row: split on unescaped pipes, outer pipes dropped, `\|` unescaped, <br> → space. */
function splitCells(line: string): string[] {
  const cells: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (char === '\\' && line[i + 1] === '|') {
      current += '|';
      i += 1;
    } else if (char === '|') {
      cells.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  cells.push(current);
  const trimmed = cells.map((cell) => cell.replace(LINE_BREAK_TAG, ' ').trim());
  if (trimmed.length > 1 && trimmed[0] === '') trimmed.shift();
  if (trimmed.length > 1 && trimmed.at(-1) === '') trimmed.pop();
  return trimmed;
}

function hasPipe(line: string): boolean {
  return /(^|[^\\])\|/.test(line);
}

// ---- inline --------------------------------------------------------------------------------------

/** Rewrites images as links, outside inline code spans. */
function convertInline(text: string): string {
  return mapOutsideCodeSpans(text, imagesToLinks);
}

function imagesToLinks(text: string): string {
  return text
    .replace(/\[!\[([^\][]*)\]\([^)]*\)\]\(([^)\s]*)(?:\s+"[^"]*")?\)/g, (_m, alt: string, href: string) =>
      link(alt, href),
    )
    .replace(
      /!\[([^\][]*)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
      (_m, alt: string, url: string) => link(alt, url),
    )
    .replace(/!\[([^\][]*)\]\[([^\][]*)\]/g, '[$1][$2]');
}

function link(text: string, url: string): string {
  return `[${text.trim() || 'image'}](${url})`;
}

/** Applies `convert` to the text outside code spans (a run of N backticks closed by the next run of N). */
function mapOutsideCodeSpans(text: string, convert: (plain: string) => string): string {
  const runs = [...text.matchAll(/`+/g)].map((match) => ({ index: match.index, length: match[0].length }));
  const closers = new RunIndex(runs);
  let result = '';
  let plainStart = 0;
  for (const run of runs) {
    if (run.index < plainStart) continue;
    const close = closers.next(run.length, run.index);
    if (close === undefined) continue;
    result += convert(text.slice(plainStart, run.index)) + text.slice(run.index, close + run.length);
    plainStart = close + run.length;
  }
  return result + convert(text.slice(plainStart));
}

/** Finds the next backtick run of a given length in amortised constant time (no quadratic rescans). */
class RunIndex {
  readonly #starts = new Map<number, number[]>();
  readonly #cursors = new Map<number, number>();

  constructor(runs: { index: number; length: number }[]) {
    for (const { index, length } of runs) {
      const starts = this.#starts.get(length) ?? [];
      starts.push(index);
      this.#starts.set(length, starts);
    }
  }

  next(length: number, after: number): number | undefined {
    const starts = this.#starts.get(length) ?? [];
    let cursor = this.#cursors.get(length) ?? 0;
    while (cursor < starts.length && (starts[cursor] ?? Infinity) <= after) cursor += 1;
    this.#cursors.set(length, cursor);
    return starts[cursor];
  }
}

// ---- whitespace ----------------------------------------------------------------------------------

/** The width of the leading whitespace, tabs counting to the next multiple of 4. */
function indentOf(line: string): number {
  let width = 0;
  for (const char of line) {
    if (char === ' ') width += 1;
    else if (char === '\t') width += 4 - (width % 4);
    else break;
  }
  return width;
}

/** Removes up to `width` columns of leading spaces, as CommonMark does for a fence's content. */
function dedent(line: string, width: number): string {
  let removed = 0;
  let index = 0;
  while (index < line.length && removed < width && (line[index] === ' ' || line[index] === '\t')) {
    removed += line[index] === '\t' ? 4 - (removed % 4) : 1;
    index += 1;
  }
  return line.slice(index);
}
