import { describe, expect, it } from 'vitest';
import { MAX_LINE_CHARS, parseLine, safeHref, stripAnsi } from './ansi';

const E = '\x1b';

describe('parseLine', () => {
  it('keeps plain text as one span', () => {
    expect(parseLine('hello world')).toEqual([{ text: 'hello world' }]);
  });

  it('applies 16-colour SGR and resets', () => {
    expect(parseLine(`a${E}[31mred${E}[0mb`)).toEqual([
      { text: 'a' },
      { text: 'red', style: { fg: 'var(--ansi-1)' } },
      { text: 'b' },
    ]);
    expect(parseLine(`${E}[1;94mx`)).toEqual([{ text: 'x', style: { bold: true, fg: 'var(--ansi-12)' } }]);
    expect(parseLine(`${E}[42mx`)).toEqual([{ text: 'x', style: { bg: 'var(--ansi-2)' } }]);
  });

  it('reads 256-colour and 24-bit colours', () => {
    expect(parseLine(`${E}[38;5;196mx`)[0]!.style).toEqual({ fg: 'rgb(255,0,0)' });
    expect(parseLine(`${E}[38;5;244mx`)[0]!.style).toEqual({ fg: 'rgb(128,128,128)' });
    expect(parseLine(`${E}[48;2;1;2;3mx`)[0]!.style).toEqual({ bg: 'rgb(1,2,3)' });
    expect(parseLine(`${E}[38;2;999;0;3mx`)[0]!.style).toEqual({ fg: 'rgb(255,0,3)' });
  });

  it('handles bold, italic, underline and their resets', () => {
    const spans = parseLine(`${E}[1;3;4mx${E}[22my${E}[23;24mz`);
    expect(spans).toEqual([
      { text: 'x', style: { bold: true, italic: true, underline: true } },
      { text: 'y', style: { italic: true, underline: true } },
      { text: 'z' },
    ]);
  });

  it('drops other escape sequences and control characters', () => {
    expect(stripAnsi(`${E}[2K${E}[1Ga${E}(Bb${E}=c\x07d\x00e${E}]0;title\x07f`)).toBe('abcdef');
    expect(stripAnsi(`x${E}[?25l${E}[?25hy`)).toBe('xy');
  });

  it('shows the last state of \\r progress lines', () => {
    expect(stripAnsi('10%\r50%\r100%')).toBe('100%');
    expect(stripAnsi('abcdef\rXY')).toBe('XYcdef');
    expect(stripAnsi('done\r\n'.replace('\n', ''))).toBe('done');
    expect(stripAnsi('ab\bc')).toBe('ac');
  });

  it('expands tabs to 8 columns', () => {
    expect(stripAnsi('a\tb')).toBe('a       b');
  });

  it('keeps styles through \\r overwrites', () => {
    const spans = parseLine(`${E}[31mxxxx${E}[0m\r${E}[32myy`);
    expect(spans).toEqual([
      { text: 'yy', style: { fg: 'var(--ansi-2)' } },
      { text: 'xx', style: { fg: 'var(--ansi-1)' } },
    ]);
  });

  it('links OSC 8 hyperlinks only for http(s)', () => {
    const ok = parseLine(`${E}]8;;https://example.com/a?b=1${E}\\link${E}]8;;${E}\\ after`);
    expect(ok).toEqual([{ text: 'link', href: 'https://example.com/a?b=1' }, { text: ' after' }]);
    const bad = parseLine(`${E}]8;;javascript:alert(1)\x07click${E}]8;;\x07`);
    expect(bad).toEqual([{ text: 'click' }]);
    expect(safeHref('JaVaScRiPt:alert(1)')).toBeUndefined();
    expect(safeHref('data:text/html,x')).toBeUndefined();
    expect(safeHref(' http://x.test/')).toBe('http://x.test/');
  });

  it('keeps markup as text', () => {
    expect(stripAnsi('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });

  it('bounds escape bombs and giant lines', () => {
    const bomb = `${E}[${'1;'.repeat(10000)}31m` + 'x'.repeat(MAX_LINE_CHARS + 50);
    const t0 = performance.now();
    const spans = parseLine(bomb);
    expect(performance.now() - t0).toBeLessThan(500);
    const text = spans.map((s) => s.text).join('');
    expect(text.startsWith('x'.repeat(MAX_LINE_CHARS))).toBe(true);
    expect(text).toContain('more characters');
  });

  it('ignores unterminated sequences', () => {
    expect(stripAnsi(`abc${E}[31`)).toBe('abc');
    expect(stripAnsi(`abc${E}]8;;http://x`)).toBe('abc');
  });
});
