import { readFile } from 'node:fs/promises';
import { buildDocx, buildPdf } from '../../../test/fixtures/office-fixtures.js';
import { DocumentParseError, detectFormat, parseDocument } from './document-parser.js';

const text = (value: string) => Buffer.from(value, 'utf8');
const fixture = (name: string) => readFile(new URL(`../../../test/fixtures/${name}`, import.meta.url));

async function parseError(promise: Promise<unknown>): Promise<DocumentParseError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DocumentParseError);
  return error as DocumentParseError;
}

describe('parseDocument', () => {
  it('reads plain text as one section titled after the file', async () => {
    const parsed = await parseDocument({
      filename: 'notes/opening-hours.txt',
      buffer: text('\uFEFFWe open at 9.\r\nWe close at 6.\r\n'),
    });

    expect(parsed).toEqual({
      title: 'opening-hours',
      format: 'text',
      sections: [{ headingPath: [], text: 'We open at 9.\nWe close at 6.' }],
    });
  });

  it('decodes GB18030 text files (common for Chinese documents)', async () => {
    const gbk = Buffer.from([0xcd, 0xcb, 0xbf, 0xee, 0xd5, 0xfe, 0xb2, 0xdf]); // 退款政策

    const parsed = await parseDocument({ filename: 'policy.txt', buffer: gbk });

    expect(parsed.sections[0].text).toBe('退款政策');
  });

  it('turns Markdown headings into heading paths, ignoring # lines in code fences', async () => {
    const parsed = await parseDocument({
      filename: 'refund-policy.zh.md',
      buffer: await fixture('refund-policy.zh.md'),
    });

    expect(parsed.title).toBe('售后服务指南');
    expect(parsed.format).toBe('markdown');
    expect(parsed.sections.map((section) => section.headingPath)).toEqual([
      ['售后服务指南'],
      ['售后服务指南', '退款政策'],
      ['售后服务指南', '退款政策', '特殊情况'],
      ['售后服务指南', '保修服务'],
    ]);
    expect(parsed.sections[1].text).toContain('款项将在十四天内原路退回');
    expect(parsed.sections[3].text).toContain('# 这不是标题');
  });

  it('handles setext headings, inline markup in headings, and text before the first heading', async () => {
    const markdown =
      'Intro line.\n\nShipping **rates**\n=================\n\nFlat fee.\n\n[EU](http://x) zone\n---\n\nFree above 50 EUR.\n';

    const parsed = await parseDocument({ filename: 'shipping.markdown', buffer: text(markdown) });

    expect(parsed.title).toBe('Shipping rates');
    expect(parsed.sections).toEqual([
      { headingPath: [], text: 'Intro line.' },
      { headingPath: ['Shipping rates'], text: 'Flat fee.' },
      { headingPath: ['Shipping rates', 'EU zone'], text: 'Free above 50 EUR.' },
    ]);
  });

  it('reads HTML: h1–h6 become heading paths, the <title> the title, scripts and link targets dropped', async () => {
    const html = `<html><head><title>Help &amp; FAQ</title><style>p{}</style></head><body>
      <nav>Home | About</nav><h1>Accounts</h1><p>Manage your <a href="/account">account</a>.</p>
      <h2>Passwords</h2><p>Reset it from the login page.</p><ul><li>Use 12 characters</li><li>Avoid reuse</li></ul>
      <script>alert(1)</script><h2>Deleting</h2><p>Write to support.</p></body></html>`;

    const parsed = await parseDocument({ filename: 'faq.html', buffer: text(html) });

    expect(parsed.title).toBe('Help & FAQ');
    expect(parsed.sections).toEqual([
      { headingPath: ['Accounts'], text: 'Manage your account.' },
      {
        headingPath: ['Accounts', 'Passwords'],
        text: 'Reset it from the login page.\n\n- Use 12 characters\n- Avoid reuse',
      },
      { headingPath: ['Accounts', 'Deleting'], text: 'Write to support.' },
    ]);
  });

  it('reads each PDF page as a section labelled with its page number', async () => {
    const pdf = buildPdf(
      [
        ['Refund policy', 'Refunds are issued within 14 days of the request.'],
        ['Warranty', 'Every device has a two-year warranty.'],
      ],
      'Customer Handbook',
    );

    const parsed = await parseDocument({ filename: 'handbook.pdf', buffer: pdf });

    expect(parsed.title).toBe('Customer Handbook');
    expect(parsed.sections).toEqual([
      { headingPath: ['Page 1'], text: 'Refund policy\nRefunds are issued within 14 days of the request.' },
      { headingPath: ['Page 2'], text: 'Warranty\nEvery device has a two-year warranty.' },
    ]);
  });

  it('reads DOCX with Word heading styles as heading paths', async () => {
    const docx = buildDocx([
      { text: 'Employee Guide', heading: 1 },
      { text: 'Welcome to the team.' },
      { text: 'Leave', heading: 2 },
      { text: 'You have 25 days of paid leave.' },
      { text: '请假流程', heading: 3 },
      { text: '请提前三天在系统中提交申请。' },
    ]);

    const parsed = await parseDocument({ filename: 'guide.docx', buffer: docx });

    expect(parsed.title).toBe('Employee Guide');
    expect(parsed.sections).toEqual([
      { headingPath: ['Employee Guide'], text: 'Welcome to the team.' },
      { headingPath: ['Employee Guide', 'Leave'], text: 'You have 25 days of paid leave.' },
      { headingPath: ['Employee Guide', 'Leave', '请假流程'], text: '请提前三天在系统中提交申请。' },
    ]);
  });

  it('turns CSV rows into "header: value" lines, detecting the header row and the delimiter', async () => {
    const csv = 'Product;Price;Notes\n"Widget; large";10;\nGadget;25;"ships in 2 days"\n';

    const parsed = await parseDocument({ filename: 'prices.csv', buffer: text(csv) });

    expect(parsed.sections).toEqual([
      {
        headingPath: [],
        text: 'Product: Widget; large; Price: 10\nProduct: Gadget; Price: 25; Notes: ships in 2 days',
      },
    ]);
  });

  it('names columns when the CSV has no header row', async () => {
    const parsed = await parseDocument({ filename: 'numbers.csv', buffer: text('1,2\n3,4\n') });

    expect(parsed.sections[0].text).toBe('Column 1: 1; Column 2: 2\nColumn 1: 3; Column 2: 4');
  });

  it('rejects unsupported types with the supported list', async () => {
    const error = await parseError(parseDocument({ filename: 'report.doc', buffer: text('x') }));

    expect(error.code).toBe('unsupported-format');
    expect(error.message).toMatch(/\.docx.*save \.doc files as \.docx/);
  });

  it.each([
    ['broken.pdf', 'PDF', text('%PDF-1.4 this is not really a pdf')],
    ['broken.docx', 'DOCX', text('PK not a zip archive')],
    ['broken.csv', 'CSV', text('a,b\n"unterminated,1\n')],
    ['binary.txt', 'text', Buffer.from([0x00, 0x01, 0x02, 0xff])],
  ])('reports a corrupt %s naming the format', async (filename, format, buffer) => {
    const error = await parseError(parseDocument({ filename, buffer }));

    expect(error.code).toBe('corrupt-file');
    expect(error.message).toContain(format);
  });

  it('reports a document without text as empty', async () => {
    const error = await parseError(parseDocument({ filename: 'scan.pdf', buffer: buildPdf([[]]) }));

    expect(error.code).toBe('empty-document');
    expect(error.message).toContain('OCR');
  });
});

describe('detectFormat', () => {
  it('prefers the extension and falls back to the MIME type', () => {
    expect(detectFormat('A.MD')).toBe('markdown');
    expect(detectFormat('page.htm', 'application/octet-stream')).toBe('html');
    expect(detectFormat('upload', 'text/markdown; charset=utf-8')).toBe('markdown');
    expect(detectFormat('archive.zip', 'text/plain')).toBeUndefined();
  });
});
