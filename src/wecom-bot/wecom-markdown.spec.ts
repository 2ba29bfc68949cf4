import fc from 'fast-check';
import { toWeComMarkdown } from './wecom-markdown.js';

const md = (...lines: string[]): string => lines.join('\n');

describe('toWeComMarkdown', () => {
  describe('what WeCom renders is left alone', () => {
    it('keeps headings, bold, links, inline code, quotes and flat lists', () => {
      const input = md(
        '# 报销指南',
        '',
        '**注意**：请访问 [OA](https://oa.example.com) 并运行 `submit --now`。',
        '',
        '> 引用的内容',
        '',
        '- 第一项',
        '* 第二项',
        '1. 第一步',
        '2) 第二步',
        '',
        '<think>思考中</think>',
      );
      expect(toWeComMarkdown(input)).toBe(input);
    });

    it('keeps an empty string empty', () => {
      expect(toWeComMarkdown('')).toBe('');
    });

    it('keeps a trailing newline and normalises CRLF to LF', () => {
      expect(toWeComMarkdown('a\r\nb\r\n')).toBe('a\nb\n');
    });
  });

  describe('tables', () => {
    it('turns each row into a bullet of "header: value" pairs', () => {
      const input = md(
        '| 姓名 | 部门 | 电话 |',
        '|---|:---:|--:|',
        '| 张三 | 财务 | 1234 |',
        '| 李四 | 人事 | 5678 |',
      );
      expect(toWeComMarkdown(input)).toBe(
        md('- 姓名: 张三; 部门: 财务; 电话: 1234', '- 姓名: 李四; 部门: 人事; 电话: 5678'),
      );
    });

    it('accepts tables without outer pipes', () => {
      expect(toWeComMarkdown(md('Name | Age', '--- | ---', 'Alice | 30'))).toBe('- Name: Alice; Age: 30');
    });

    it('skips empty cells and rows', () => {
      const input = md('| a | b |', '|---|---|', '| 1 |  |', '|   |   |', '|  | 2 |');
      expect(toWeComMarkdown(input)).toBe(md('- a: 1', '- b: 2'));
    });

    it('unescapes \\| and turns <br> into a space', () => {
      const input = md('| cmd | note |', '|---|---|', '| `a \\| b` | one<br>two<br/>three |');
      expect(toWeComMarkdown(input)).toBe('- cmd: `a | b`; note: one two three');
    });

    it('keeps values of columns without a header', () => {
      expect(toWeComMarkdown(md('| | score |', '|---|---|', '| Alice | 9 |'))).toBe('- Alice; score: 9');
    });

    it('keeps extra cells beyond the header', () => {
      expect(toWeComMarkdown(md('| a | b |', '|---|---|', '| 1 | 2 | 3 |'))).toBe('- a: 1; b: 2; 3');
    });

    it('lists the headers of a table without rows', () => {
      expect(toWeComMarkdown(md('| a | b |', '|---|---|'))).toBe('- a; b');
    });

    it('separates the bullets from a paragraph that follows without a blank line', () => {
      const input = md('Intro:', '| a | b |', '|---|---|', '| 1 | 2 |', 'After.');
      expect(toWeComMarkdown(input)).toBe(md('Intro:', '- a: 1; b: 2', '', 'After.'));
    });

    it('keeps the blank line that already follows a table', () => {
      const input = md('| a |', '|---|', '| 1 |', '', 'After.');
      expect(toWeComMarkdown(input)).toBe(md('- a: 1', '', 'After.'));
    });

    it('is not fooled by a pipe above a line that is not a delimiter row', () => {
      const input = md('Use a | b to pipe', '---', 'x | y', '-- | -- | --');
      expect(toWeComMarkdown(input)).toBe(input);
    });

    it('turns images in cells into links', () => {
      const input = md('| logo |', '|---|', '| ![ACME](https://x/logo.png) |');
      expect(toWeComMarkdown(input)).toBe('- logo: [ACME](https://x/logo.png)');
    });
  });

  describe('nested lists', () => {
    it('prefixes nested items with their parent and removes the indentation', () => {
      const input = md('- 水果', '  - 苹果', '  - 梨', '- 蔬菜', '  - 胡萝卜');
      expect(toWeComMarkdown(input)).toBe(
        md('- 水果', '- 水果 › 苹果', '- 水果 › 梨', '- 蔬菜', '- 蔬菜 › 胡萝卜'),
      );
    });

    it('keeps the whole path for deeper levels and the ordinal of ordered children', () => {
      const input = md('1. **准备材料**：', '   - 审批单', '     1. 部门签字', '     2. 财务签字', '2. 提交');
      expect(toWeComMarkdown(input)).toBe(
        md(
          '1. **准备材料**：',
          '- 准备材料 › 审批单',
          '- 准备材料 › 审批单 › 1. 部门签字',
          '- 准备材料 › 审批单 › 2. 财务签字',
          '2. 提交',
        ),
      );
    });

    it('uses bullets for flattened children so the parent list is not renumbered', () => {
      expect(toWeComMarkdown(md('1. Install', '    1. Download', '2. Run'))).toBe(
        md('1. Install', '- Install › 1. Download', '2. Run'),
      );
    });

    it('shortens a long parent to 24 characters and strips its markup', () => {
      const input = md('- **A rather long parent item** with `code` and [a link](https://x)', '  - child');
      expect(toWeComMarkdown(input).split('\n')[1]).toBe('- A rather long parent ite… › child');
    });

    it('skips an empty parent in the prefix', () => {
      expect(toWeComMarkdown(md('-', '  - child'))).toBe(md('-', '- child'));
    });

    it('counts a tab as four columns of indentation', () => {
      expect(toWeComMarkdown(md('- a', '\t- b', '- c'))).toBe(md('- a', '- a › b', '- c'));
    });

    it('dedents the continuation lines of an item', () => {
      expect(toWeComMarkdown(md('- a', '  - b', '    more about b', '', '    still b'))).toBe(
        md('- a', '- a › b', 'more about b', '', 'still b'),
      );
    });

    it('ends the list at an unindented paragraph', () => {
      expect(toWeComMarkdown(md('- a', '', 'Text', '  - b'))).toBe(md('- a', '', 'Text', '- b'));
    });

    it('dedents a first item that is indented without a parent', () => {
      expect(toWeComMarkdown(md('Items:', '  - a', '  - b'))).toBe(md('Items:', '- a', '- b'));
    });
  });

  describe('images', () => {
    it.each([
      ['an inline image', '![架构图](https://x/a.png)', '[架构图](https://x/a.png)'],
      ['an image with a title', '![a](https://x/a.png "Title")', '[a](https://x/a.png)'],
      ['an image without alt text', '![](https://x/a.png)', '[image](https://x/a.png)'],
      ['an image in angle brackets', '![a](<https://x/a.png>)', '[a](https://x/a.png)'],
      ['a linked image (badge)', '[![build](https://ci/b.svg)](https://ci/run)', '[build](https://ci/run)'],
      ['a reference image', '![logo][1]', '[logo][1]'],
    ])('turns %s into a link', (_label, input, expected) => {
      expect(toWeComMarkdown(`See ${input} here`)).toBe(`See ${expected} here`);
    });

    it('leaves images inside inline code alone', () => {
      const input = 'Write `![alt](url)` or ``![a](`b`)`` to embed ![x](https://x/y.png)';
      expect(toWeComMarkdown(input)).toBe(
        'Write `![alt](url)` or ``![a](`b`)`` to embed [x](https://x/y.png)',
      );
    });

    it('treats an unmatched backtick as text', () => {
      expect(toWeComMarkdown('a ` b ![x](u)')).toBe('a ` b [x](u)');
    });
  });

  describe('fenced code blocks', () => {
    it('leaves tables, nested lists and images inside a fence untouched', () => {
      const input = md(
        '```markdown',
        '| a | b |',
        '|---|---|',
        '| 1 | 2 |',
        '- a',
        '  - b',
        '![x](y)',
        '```',
      );
      expect(toWeComMarkdown(input)).toBe(input);
    });

    it('leaves tilde fences and longer fences untouched until their own closing fence', () => {
      const input = md('~~~~', '```', '![x](y)', '~~~', '~~~~', '![x](y)');
      expect(toWeComMarkdown(input)).toBe(md('~~~~', '```', '![x](y)', '~~~', '~~~~', '[x](y)'));
    });

    it('runs an unclosed fence to the end', () => {
      const input = md('```', '| a |', '|---|');
      expect(toWeComMarkdown(input)).toBe(input);
    });

    it('dedents a fence nested in a list item by the fence indentation, keeping relative indentation', () => {
      const input = md('- step', '  ```js', '  if (x) {', '    run();', '  }', '  ```', '- next');
      expect(toWeComMarkdown(input)).toBe(
        md('- step', '```js', 'if (x) {', '  run();', '}', '```', '- next'),
      );
    });
  });

  describe('properties', () => {
    const line = fc.oneof(
      fc.string(),
      fc.constantFrom('| a | b |', '|---|---|', '| 1 | 2 |', '---', '', '```', '~~~', '`', '> q', '# h'),
      fc
        .tuple(
          fc.constantFrom('', '  ', '    ', '\t', '   '),
          fc.constantFrom('- ', '* ', '1. ', '2) '),
          fc.string(),
        )
        .map(([indent, marker, text]) => `${indent}${marker}${text}`),
      fc.string().map((text) => `![${text}](https://x/${encodeURIComponent(text)}.png)`),
    );
    const document = fc.array(line, { maxLength: 25 }).map((lines) => lines.join('\n'));

    it('never throws', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: 'binary' }), document), (input) => {
          toWeComMarkdown(input);
        }),
        { numRuns: 500 },
      );
    });

    it('is idempotent', () => {
      fc.assert(
        fc.property(document, (input) => {
          const once = toWeComMarkdown(input);
          expect(toWeComMarkdown(once)).toBe(once);
        }),
        { numRuns: 500 },
      );
    });

    it('copies a top-level fenced block byte for byte', () => {
      const codeLine = fc.string().filter((text) => !/[`~]{3}/.test(text) && !/[\r\n]/.test(text));
      fc.assert(
        fc.property(document, fc.array(codeLine, { maxLength: 10 }), (before, code) => {
          const block = ['```', ...code, '```'].join('\n');
          const output = toWeComMarkdown(`${before}\n\n${block}\n`);
          const hasOpenFence = /^\s*(```|~~~)/m.test(before);
          if (!hasOpenFence) expect(output.endsWith(`${block}\n`)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it('leaves no nested list items outside fences', () => {
      const nested = fc
        .array(fc.tuple(fc.nat(3), fc.string({ unit: 'grapheme-ascii', minLength: 1 })), { maxLength: 15 })
        .map((items) =>
          items.map(([depth, text]) => `${'  '.repeat(depth)}- ${text.replace(/[\r\n`~]/g, '')}`),
        );
      fc.assert(
        fc.property(nested, (lines) => {
          const output = toWeComMarkdown(lines.join('\n'));
          expect(output.split('\n').filter((l) => /^\s+[-*+] /.test(l))).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  });
});
