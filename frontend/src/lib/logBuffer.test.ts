import { describe, expect, it } from 'vitest';
import { applyChunk, emptyLog, indexLines, lineAt, lineBytes, prependBytes, type LogState } from './logBuffer';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: LogState) => dec.decode(s.bytes.subarray(0, s.length));

function apply(s: LogState, offset: number, str: string): LogState {
  const r = applyChunk(s, { offset, bytes: enc.encode(str) });
  if (!r.ok) throw new Error('gap');
  return r.state;
}

describe('applyChunk', () => {
  it('appends in order', () => {
    let s = apply(emptyLog, 0, 'hello ');
    s = apply(s, 6, 'world');
    expect(text(s)).toBe('hello world');
    expect(s.length).toBe(11);
  });
  it('drops the part it already has', () => {
    let s = apply(emptyLog, 0, 'abcdef');
    const r = applyChunk(s, { offset: 3, bytes: enc.encode('defgh') });
    expect(r.ok && r.added).toBe(2);
    s = apply(s, 3, 'defgh');
    expect(text(s)).toBe('abcdefgh');
    const same = applyChunk(s, { offset: 0, bytes: enc.encode('abc') });
    expect(same.ok && same.state).toBe(s);
    expect(same.ok && same.added).toBe(0);
  });
  it('refuses a gap', () => {
    const s = apply(emptyLog, 0, 'abc');
    const r = applyChunk(s, { offset: 5, bytes: enc.encode('xyz') });
    expect(r).toEqual({ ok: false, gap: { have: 3, offset: 5 } });
  });
  it('leaves earlier states intact', () => {
    const a = apply(emptyLog, 0, 'abc');
    const b = apply(a, 3, 'def');
    expect(text(a)).toBe('abc');
    expect(text(b)).toBe('abcdef');
  });
  it('grows past its capacity', () => {
    let s = emptyLog;
    const piece = 'x'.repeat(50_000) + '\n';
    for (let i = 0; i < 10; i++) s = apply(s, s.length, piece);
    expect(s.length).toBe(piece.length * 10);
    expect(text(s)).toBe(piece.repeat(10));
  });
});

describe('indexLines', () => {
  it('indexes lines incrementally', () => {
    let s = apply(emptyLog, 0, 'one\ntwo\nthr');
    let idx = indexLines(s);
    expect(idx.count).toBe(3);
    expect(dec.decode(lineBytes(s, idx, 2))).toBe('thr');
    s = apply(s, s.length, 'ee\nfour\n');
    idx = indexLines(s, idx);
    expect(idx.count).toBe(4);
    expect([0, 1, 2, 3].map((i) => dec.decode(lineBytes(s, idx, i)))).toEqual(['one', 'two', 'three', 'four']);
    expect(lineAt(idx, 0)).toBe(0);
    expect(lineAt(idx, 5)).toBe(1);
    expect(lineAt(idx, 100)).toBe(3);
  });
  it('prepends an earlier part', () => {
    const tail = apply(emptyLog, 0, 'c\nd\n');
    const s = prependBytes(enc.encode('a\nb\n'), tail);
    expect(text(s)).toBe('a\nb\nc\nd\n');
    expect(indexLines(s).count).toBe(4);
  });
});
