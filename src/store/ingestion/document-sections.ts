/** A run of text under one heading path — what the parser produces and the splitter consumes. */
export interface DocumentSection {
  /** Headings above the text, outermost first; empty for text before any heading. */
  headingPath: string[];
  text: string;
}

/** Collects lines into sections, tracking the heading hierarchy (a level-n heading closes deeper ones). */
export class SectionBuilder {
  private readonly sections: DocumentSection[] = [];
  private readonly headings: { level: number; text: string }[] = [];
  private lines: string[] = [];
  private firstTopHeading?: string;

  heading(level: number, text: string): void {
    this.flush();
    const clean = text.replace(/\s+/g, ' ').trim();
    if (!clean) return;
    while (this.headings.length > 0 && this.headings[this.headings.length - 1].level >= level)
      this.headings.pop();
    this.headings.push({ level, text: clean });
    if (level === 1) this.firstTopHeading ??= clean;
  }

  line(text: string): void {
    this.lines.push(text);
  }

  /** Removes and returns the last line added (a setext heading's text turns out to be a heading). */
  takeLastLine(): string | undefined {
    return this.lines.pop();
  }

  get lastLine(): string | undefined {
    return this.lines[this.lines.length - 1];
  }

  /** The first level-1 heading seen, a natural document title. */
  get topHeading(): string | undefined {
    return this.firstTopHeading;
  }

  finish(): DocumentSection[] {
    this.flush();
    return this.sections;
  }

  private flush(): void {
    const text = this.lines
      .join('\n')
      .replace(/[ \t]+$/gm, '')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
    this.lines = [];
    if (text) this.sections.push({ headingPath: this.headings.map((heading) => heading.text), text });
  }
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const NOT_PARAGRAPH = /^\s*([-*+]\s|\d+[.)]\s|>|\||#|`{3}|~{3})/;

/** Splits Markdown into sections by its ATX (`## x`) and setext headings, ignoring `#` lines inside code fences. */
export function markdownSections(markdown: string): { title?: string; sections: DocumentSection[] } {
  const { body, title: frontMatterTitle } = stripFrontMatter(markdown.replace(/\r\n?/g, '\n'));
  const builder = new SectionBuilder();
  let fence: string | undefined;
  let previousBlank = true;
  for (const line of body.split('\n')) {
    const fenceMatch = FENCE.exec(line);
    if (fence !== undefined) {
      if (fenceMatch && fenceMatch[1][0] === fence[0] && fenceMatch[1].length >= fence.length)
        fence = undefined;
      builder.line(line);
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1];
      builder.line(line);
      previousBlank = false;
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    if (atx) {
      builder.heading(atx[1].length, plainInline(atx[2] ?? ''));
      previousBlank = true;
      continue;
    }
    const underline = SETEXT_UNDERLINE.exec(line);
    const candidate = builder.lastLine;
    if (underline && !previousBlank && candidate !== undefined && !NOT_PARAGRAPH.test(candidate)) {
      builder.takeLastLine();
      builder.heading(underline[1][0] === '=' ? 1 : 2, plainInline(candidate));
      previousBlank = true;
      continue;
    }
    builder.line(line);
    previousBlank = line.trim().length === 0;
  }
  const sections = builder.finish();
  return { title: frontMatterTitle ?? builder.topHeading, sections };
}

function stripFrontMatter(markdown: string): { body: string; title?: string } {
  const match = /^---[ \t]*\n([\s\S]*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)/.exec(markdown);
  if (!match) return { body: markdown };
  const title = /^title:[ \t]*(.+)$/m
    .exec(match[1])?.[1]
    .trim()
    .replace(/^(['"])(.*)\1$/, '$2');
  return { body: markdown.slice(match[0].length), title: title || undefined };
}

/** Heading text without inline Markdown: links, images, emphasis, code spans, `{#anchor}`. */
export function plainInline(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(?<!\w)(\*\*|__|\*|_|~~)(\S(?:.*?\S)?)\1(?!\w)/g, '$2')
    .replace(/\s*\{#[^}]*\}\s*$/, '')
    .trim();
}
