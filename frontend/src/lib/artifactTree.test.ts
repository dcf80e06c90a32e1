import { describe, expect, it } from 'vitest';
import { baseName, buildTree, expired, formatSize, inlineKind, shortSum } from './artifactTree';

const file = (path: string, size = 1) => ({ path, size, sha256: 'ab'.repeat(32), contentType: 'text/plain', expiresAt: null });

describe('buildTree', () => {
  it('nests a directory artifact’s files under its name, folders first, sorted', () => {
    const t = buildTree([file('report/z.txt', 3), file('app.bin', 10), file('report/img/a.png', 5), file('report/index.html', 7), file('report/img/b.png', 1)]);
    expect(t.files.map((f) => f.path)).toEqual(['app.bin']);
    expect(t.folders.map((d) => d.path)).toEqual(['report']);
    const report = t.folders[0]!;
    expect(report.folders.map((d) => d.path)).toEqual(['report/img']);
    expect(report.files.map((f) => f.path)).toEqual(['report/index.html', 'report/z.txt']);
    expect(report.folders[0]!.files.map((f) => f.path)).toEqual(['report/img/a.png', 'report/img/b.png']);
    expect([t.size, t.count]).toEqual([26, 5]);
    expect([report.size, report.count]).toEqual([16, 4]);
    expect([report.folders[0]!.size, report.folders[0]!.count]).toEqual([6, 2]);
  });

  it('is empty for no files', () => {
    expect(buildTree([])).toEqual({ name: '', path: '', folders: [], files: [], size: 0, count: 0 });
  });

  it('keeps folders of the same name apart at different depths', () => {
    const t = buildTree([file('a/a/a'), file('a/b')]);
    expect(t.folders).toHaveLength(1);
    expect(t.folders[0]!.folders[0]!.path).toBe('a/a');
    expect(t.folders[0]!.files.map((f) => f.path)).toEqual(['a/b']);
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KB'],
    [1536, '1.5 KB'],
    [10 * 1024 + 100, '10.1 KB'],
    [1024 * 1024 - 1, '1 MB'],
    [5 * 1024 * 1024, '5 MB'],
    [123.4 * 1024 * 1024, '123 MB'],
    [1.25 * 1024 ** 3, '1.25 GB'],
    [3 * 1024 ** 4, '3 TB'],
    [5000 * 1024 ** 4, '5000 TB'],
  ])('writes %d bytes as %s', (b, text) => {
    expect(formatSize(b)).toBe(text);
  });
});

describe('inlineKind', () => {
  it.each([
    ['text/html; charset=utf-8', 'r.html', 'html'],
    ['image/png', 'a.png', 'image'],
    ['image/svg+xml', 'a.svg', 'image'],
    ['text/plain; charset=utf-8', 'a.txt', 'text'],
    ['application/json', 'a.json', 'text'],
    ['application/octet-stream', 'notes.md', 'text'],
    ['application/octet-stream', 'app.bin', undefined],
    ['application/gzip', 'app.tar.gz', undefined],
    ['application/pdf', 'a.pdf', undefined],
  ])('%s %s opens as %s', (type, path, kind) => {
    expect(inlineKind(type, path)).toBe(kind);
  });
});

describe('the rest', () => {
  it('names a download after the path’s last segment', () => {
    expect(baseName('report/img/a.png')).toBe('a.png');
    expect(baseName('a.png')).toBe('a.png');
  });
  it('says when an expiry has passed', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(expired({ expiresAt: null }, now)).toBe(false);
    expect(expired({ expiresAt: '2026-01-01T00:00:00Z' }, now)).toBe(true);
    expect(expired({ expiresAt: '2026-01-03T00:00:00Z' }, now)).toBe(false);
  });
  it('shortens a checksum', () => {
    expect(shortSum('0123456789abcdef')).toBe('0123456789ab');
  });
});
