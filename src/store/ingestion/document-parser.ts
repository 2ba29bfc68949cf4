import { parse as parseCsv } from 'csv-parse/sync';
import { htmlToText, type FormatCallback, type HtmlToTextOptions } from 'html-to-text';
import { SectionBuilder, markdownSections, type DocumentSection } from './document-sections.js';

export type { DocumentSection } from './document-sections.js';

export type DocumentFormat = 'text' | 'markdown' | 'html' | 'pdf' | 'docx' | 'csv';

export interface ParseDocumentInput {
  filename: string;
  mimeType?: string;
  buffer: Buffer | Uint8Array;
}

export interface ParsedDocument {
  title: string;
  format: DocumentFormat;
  sections: DocumentSection[];
}

export type DocumentParseErrorCode =
  'unsupported-format' | 'corrupt-file' | 'protected-file' | 'empty-document';

/** Why a file cannot be ingested; the message is meant for the administrator who uploaded it. */
export class DocumentParseError extends Error {
  override readonly name = 'DocumentParseError';

  constructor(
    readonly code: DocumentParseErrorCode,
    message: string,
    readonly format?: DocumentFormat,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const FORMAT_BY_EXTENSION: Record<string, DocumentFormat> = {
  txt: 'text',
  text: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  pdf: 'pdf',
  docx: 'docx',
  csv: 'csv',
};

const FORMAT_BY_MIME_TYPE: Record<string, DocumentFormat> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/pdf': 'pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'text/csv': 'csv',
  'application/csv': 'csv',
};

const FORMAT_NAMES: Record<DocumentFormat, string> = {
  text: 'text',
  markdown: 'Markdown',
  html: 'HTML',
  pdf: 'PDF',
  docx: 'DOCX',
  csv: 'CSV',
};

export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(FORMAT_BY_EXTENSION).map(
  (ext) => `.${ext}`,
);

/** The format from the file extension, else from the MIME type (browsers often send octet-stream). */
export function detectFormat(filename: string, mimeType?: string): DocumentFormat | undefined {
  const extension = /\.([^./\\]+)$/.exec(filename)?.[1]?.toLowerCase();
  if (extension) return FORMAT_BY_EXTENSION[extension];
  return mimeType ? FORMAT_BY_MIME_TYPE[mimeType.split(';')[0].trim().toLowerCase()] : undefined;
}

/** Extracts a title and heading-aware sections from an uploaded file; throws `DocumentParseError`. */
export async function parseDocument(input: ParseDocumentInput): Promise<ParsedDocument> {
  const format = detectFormat(input.filename, input.mimeType);
  if (!format) {
    throw new DocumentParseError(
      'unsupported-format',
      `Unsupported file type "${input.filename}": upload one of ${SUPPORTED_EXTENSIONS.join(', ')}` +
        (/\.doc$/i.test(input.filename) ? ' (save .doc files as .docx first)' : ''),
    );
  }
  const buffer = Buffer.from(input.buffer.buffer, input.buffer.byteOffset, input.buffer.byteLength);
  const fallbackTitle = baseName(input.filename);
  const parsed = await parseAs(format, buffer, fallbackTitle);
  const sections = parsed.sections.filter((section) => section.text.trim().length > 0);
  if (sections.length === 0) {
    throw new DocumentParseError(
      'empty-document',
      `No text found in ${FORMAT_NAMES[format]} file "${input.filename}"` +
        (format === 'pdf' ? ' (a scanned PDF needs OCR before upload)' : ''),
      format,
    );
  }
  return { title: parsed.title.trim() || fallbackTitle, format, sections };
}

async function parseAs(
  format: DocumentFormat,
  buffer: Buffer,
  fallbackTitle: string,
): Promise<{ title: string; sections: DocumentSection[] }> {
  try {
    switch (format) {
      case 'text':
        return {
          title: fallbackTitle,
          sections: [{ headingPath: [], text: normaliseText(decodeText(buffer, format)) }],
        };
      case 'markdown': {
        const { title, sections } = markdownSections(decodeText(buffer, format));
        return { title: title ?? fallbackTitle, sections };
      }
      case 'html':
        return htmlSections(decodeText(buffer, format), fallbackTitle);
      case 'pdf':
        return await pdfSections(buffer, fallbackTitle);
      case 'docx':
        return await docxSections(buffer, fallbackTitle);
      case 'csv':
        return {
          title: fallbackTitle,
          sections: [{ headingPath: [], text: csvText(decodeText(buffer, format)) }],
        };
    }
  } catch (error) {
    if (error instanceof DocumentParseError) throw error;
    const { name, message: reason } = describeError(error);
    const isProtected = name === 'PasswordException';
    throw new DocumentParseError(
      isProtected ? 'protected-file' : 'corrupt-file',
      isProtected
        ? `The PDF file is password-protected; remove the password and upload it again`
        : `Could not read the ${FORMAT_NAMES[format]} file: it looks corrupt (${reason.slice(0, 200)})`,
      format,
      { cause: error },
    );
  }
}

// ---- text decoding ----------------------------------------------------------------------------

/** UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (common for Chinese files), else Windows-1252. */
function decodeText(buffer: Buffer, format: DocumentFormat): string {
  if (buffer[0] === 0xff && buffer[1] === 0xfe) return new TextDecoder('utf-16le').decode(buffer.subarray(2));
  if (buffer[0] === 0xfe && buffer[1] === 0xff) return new TextDecoder('utf-16be').decode(buffer.subarray(2));
  if (buffer.subarray(0, 8192).includes(0)) {
    throw new DocumentParseError(
      'corrupt-file',
      `The ${FORMAT_NAMES[format]} file looks binary, not text`,
      format,
    );
  }
  for (const encoding of ['utf-8', 'gb18030']) {
    try {
      return new TextDecoder(encoding, { fatal: true, ignoreBOM: false }).decode(buffer);
    } catch {
      // try the next encoding
    }
  }
  return new TextDecoder('windows-1252').decode(buffer);
}

function normaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+$/gm, '')
    .trim();
}

// ---- HTML and DOCX ----------------------------------------------------------------------------

/** Private-use characters mark headings in html-to-text's output; they cannot occur in real text. */
const HEADING_MARK = '\uE000';
const HEADING_LINE = new RegExp(`^${HEADING_MARK}([1-6])${HEADING_MARK}(.*)$`);

const headingFormatter: FormatCallback = (elem, walk, builder, formatOptions) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addLiteral(`${HEADING_MARK}${Number(formatOptions.level)}${HEADING_MARK}`);
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

const HTML_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  formatters: { parleyHeading: headingFormatter },
  selectors: [
    ...[1, 2, 3, 4, 5, 6].map((level) => ({
      selector: `h${level}`,
      format: 'parleyHeading',
      options: { level },
    })),
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'head', format: 'skip' },
    { selector: 'script', format: 'skip' },
    { selector: 'style', format: 'skip' },
    { selector: 'nav', format: 'skip' },
    { selector: 'ul', options: { itemPrefix: '- ' } },
  ],
};

function htmlSections(html: string, fallbackTitle: string): { title: string; sections: DocumentSection[] } {
  const builder = new SectionBuilder();
  for (const line of htmlToText(html, HTML_OPTIONS).split('\n')) {
    const heading = HEADING_LINE.exec(line);
    if (heading) builder.heading(Number(heading[1]), heading[2].replaceAll(HEADING_MARK, ''));
    else builder.line(line);
  }
  const sections = builder.finish();
  return { title: htmlTitle(html) ?? builder.topHeading ?? fallbackTitle, sections };
}

function htmlTitle(html: string): string | undefined {
  const raw = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1];
  const title = raw ? htmlToText(raw, { wordwrap: false }).replace(/\s+/g, ' ').trim() : '';
  return title || undefined;
}

/** DOCX → HTML with mammoth, which maps Word's heading styles to h1–h6, so headings survive. */
async function docxSections(
  buffer: Buffer,
  fallbackTitle: string,
): Promise<{ title: string; sections: DocumentSection[] }> {
  // Loaded on first use: mammoth and pdf-parse (pdf.js, which also patches globals) cost tens of MB of
  // memory and slow down every process, while most processes never parse a DOCX or PDF.
  const { default: mammoth } = await import('mammoth');
  const { value: html } = await mammoth.convertToHtml({ buffer });
  return htmlSections(html, fallbackTitle);
}

// ---- PDF --------------------------------------------------------------------------------------

/** One section per page, labelled "Page n" so answers can point at the page. */
async function pdfSections(
  buffer: Buffer,
  fallbackTitle: string,
): Promise<{ title: string; sections: DocumentSection[] }> {
  const { PDFParse } = await import('pdf-parse');
  const parser = new PDFParse({ data: new Uint8Array(buffer) });
  try {
    const text = await parser.getText();
    const info = await parser.getInfo().catch(() => undefined);
    const metadataTitle = typeof info?.info?.Title === 'string' ? info.info.Title.trim() : '';
    const title =
      metadataTitle && !/^(untitled|microsoft word\b)/i.test(metadataTitle) ? metadataTitle : fallbackTitle;
    const sections = text.pages.map((page) => ({
      headingPath: [`Page ${page.num}`],
      text: normaliseText(page.text)
        .replace(/(\p{Ll})-\n(\p{Ll})/gu, '$1$2')
        .trim(),
    }));
    return { title, sections };
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

// ---- CSV --------------------------------------------------------------------------------------

/** Each row becomes one line, "header: value; header: value", so a row reads on its own in a chunk. */
function csvText(text: string): string {
  const rows = parseCsv(text, {
    delimiter: sniffDelimiter(text),
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
  });
  if (rows.length === 0) return '';
  const hasHeader = looksLikeHeader(rows);
  const width = Math.max(...rows.map((row) => row.length));
  const headers = Array.from(
    { length: width },
    (_, i) => (hasHeader ? rows[0][i] : undefined) || `Column ${i + 1}`,
  );
  return rows
    .slice(hasHeader ? 1 : 0)
    .map((row) =>
      row
        .map((value, i) => (value ? `${headers[i]}: ${value}` : ''))
        .filter(Boolean)
        .join('; '),
    )
    .filter(Boolean)
    .join('\n');
}

function sniffDelimiter(text: string): string {
  const firstLine = text
    .slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : undefined)
    .replace(/"[^"]*"/g, '');
  const counts = [',', ';', '\t', '|'].map((delimiter) => ({
    delimiter,
    count: firstLine.split(delimiter).length - 1,
  }));
  const best = counts.reduce((a, b) => (b.count > a.count ? b : a));
  return best.count > 0 ? best.delimiter : ',';
}

/** A header row: more rows follow, and its cells are all filled, distinct and not numbers. */
function looksLikeHeader(rows: string[][]): boolean {
  const [first] = rows;
  if (rows.length < 2 || first.some((cell) => !cell)) return false;
  if (first.some((cell) => /^[-+]?[\d.,\s%$€¥]+$/.test(cell))) return false;
  return new Set(first.map((cell) => cell.toLowerCase())).size === first.length;
}

function describeError(error: unknown): { name: string; message: string } {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return { name: String((error as { name?: unknown }).name), message: String(error.message) };
  }
  return { name: 'Error', message: String(error) };
}

function baseName(filename: string): string {
  const name = filename.split(/[\\/]/).pop() ?? filename;
  return name.replace(/\.[^.]+$/, '').trim() || name;
}
