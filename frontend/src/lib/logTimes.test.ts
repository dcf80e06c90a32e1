import { describe, expect, it } from 'vitest';
import { findGroups } from './groups';
import { ChunkTimes, formatSince, groupDuration, groupTimes, lineEndOffset, serverSkew } from './logTimes';
import { indexLines } from './logBuffer';

const enc = new TextEncoder();

describe('ChunkTimes', () => {
  it('maps offsets to the chunk holding them', () => {
    const t = new ChunkTimes();
    t.merge(
      [
        { offset: 0, time: 1000 },
        { offset: 10, time: 2000 },
        { offset: 25, time: 3500 },
      ],
      30,
    );
    expect(t.at(0)).toBe(1000);
    expect(t.at(9)).toBe(1000);
    expect(t.at(10)).toBe(2000);
    expect(t.at(24)).toBe(2000);
    expect(t.at(29)).toBe(3500);
    expect(t.at(30)).toBeNaN(); // not held when the times were read
    expect(t.at(-1)).toBeNaN();
    expect(t.first()).toBe(1000);
  });

  it('adds live chunks, keeping what it knew for bytes seen again', () => {
    const t = new ChunkTimes();
    t.add(0, 5, 100);
    t.add(5, 5, 200);
    t.add(3, 4, 999); // overlap: the bytes already known keep their time
    expect(t.at(4)).toBe(100);
    expect(t.at(6)).toBe(200);
    t.add(8, 6, 300); // the new part, bytes 10..13, is the new chunk's
    expect(t.at(9)).toBe(200);
    expect(t.at(10)).toBe(300);
    expect(t.at(13)).toBe(300);
    expect(t.at(14)).toBeNaN();
  });

  it('marks a gap unknown until a fetch fills it', () => {
    const t = new ChunkTimes();
    t.add(0, 10, 100);
    // Bytes 10..19 came over HTTP without a time; then an event at 20.
    t.add(20, 5, 300);
    expect(t.at(5)).toBe(100);
    expect(t.at(15)).toBeNaN();
    expect(t.at(22)).toBe(300);
    // The fetch was read when 18 bytes were held: 18 and 19 stay unknown.
    t.merge(
      [
        { offset: 0, time: 100 },
        { offset: 12, time: 200 },
      ],
      18,
    );
    expect(t.at(11)).toBe(100);
    expect(t.at(12)).toBe(200);
    expect(t.at(17)).toBe(200);
    expect(t.at(18)).toBeNaN();
    expect(t.at(22)).toBe(300);
    t.merge(
      [
        { offset: 0, time: 100 },
        { offset: 12, time: 200 },
        { offset: 18, time: 250 },
        { offset: 20, time: 300 },
      ],
      25,
    );
    expect(t.at(19)).toBe(250);
    expect(t.at(24)).toBe(300);
  });

  it('keeps live chunks past the last one fetched', () => {
    const t = new ChunkTimes();
    t.add(0, 4, 10);
    t.add(4, 4, 20);
    t.add(8, 4, 30);
    t.merge([{ offset: 0, time: 10 }], 4);
    expect(t.at(2)).toBe(10);
    expect(t.at(5)).toBe(20);
    expect(t.at(11)).toBe(30);
  });

  it('grows past its first capacity and stays sorted', () => {
    const t = new ChunkTimes();
    for (let i = 0; i < 1000; i++) t.add(i * 10, 10, i);
    expect(t.count).toBe(1000);
    for (let i = 0; i < 1000; i += 37) {
      expect(t.at(i * 10)).toBe(i);
      expect(t.at(i * 10 + 9)).toBe(i);
    }
  });
});

describe('line times', () => {
  it('times a line by its newline', () => {
    // "a\n" arrives at 1 s; "b" at 2 s and its newline with "c\n" at 3 s; "d" (no newline yet) at 4 s.
    const text = 'a\nb\nc\nd';
    const bytes = enc.encode(text);
    const idx = indexLines({ length: bytes.length, bytes });
    const t = new ChunkTimes();
    t.add(0, 2, 1000);
    t.add(2, 1, 2000);
    t.add(3, 3, 3000);
    t.add(6, 1, 4000);
    const time = (i: number) => t.at(lineEndOffset(idx.starts, idx.count, bytes.length, 0, i));
    expect([0, 1, 2, 3].map(time)).toEqual([1000, 3000, 3000, 4000]);
  });

  it('counts offsets from the first byte held', () => {
    const bytes = enc.encode('x\ny\n');
    const idx = indexLines({ length: bytes.length, bytes });
    expect(lineEndOffset(idx.starts, idx.count, bytes.length, 100, 0)).toBe(101);
    expect(lineEndOffset(idx.starts, idx.count, bytes.length, 100, 1)).toBe(103);
  });

  it('gives an empty last line its own start', () => {
    expect(lineEndOffset([0, 5], 2, 5, 0, 1)).toBe(5);
  });
});

describe('group durations', () => {
  const lines = ['a', '::group::build', 'b', '::group::inner', 'c', '::endgroup::', '::endgroup::', '::group::test', 'd'];
  const groups = findGroups(lines);
  const at = [0, 1200, 1900, 2000, 2400, 2600, 3300, 3400, 9000];
  const lineTime = (i: number) => at[i]!;

  it('is the end line’s time less the start line’s', () => {
    const t = groupTimes(groups, lineTime);
    expect(groups.map((g) => g.title)).toEqual(['build', 'inner', 'test']);
    expect(groupDuration(t[0]!)).toBe(2100);
    expect(groupDuration(t[1]!)).toBe(600);
  });

  it('counts a running group up to now', () => {
    const t = groupTimes(groups, lineTime);
    expect(groups[2]!.open).toBe(true);
    expect(groupDuration(t[2]!, 10_400)).toBe(7000);
  });

  it('ends an open group at its last line once the job is over', () => {
    const t = groupTimes(groups, lineTime);
    expect(groupDuration(t[2]!)).toBe(5600);
  });

  it('is unknown without times', () => {
    expect(groupDuration({ t0: NaN, t1: 5 })).toBeNaN();
    expect(groupDuration({ t0: 5, t1: 3 })).toBe(0);
  });
});

describe('formatSince', () => {
  it('writes compact offsets', () => {
    expect(formatSince(0)).toBe('+0.0s');
    expect(formatSince(430)).toBe('+0.4s');
    expect(formatSince(12_349)).toBe('+12.3s');
    expect(formatSince(59_999)).toBe('+59.9s');
    expect(formatSince(60_000)).toBe('+1:00.0');
    expect(formatSince(83_400)).toBe('+1:23.4');
    expect(formatSince(3_599_900)).toBe('+59:59.9');
    expect(formatSince(3_723_000)).toBe('+1:02:03');
    expect(formatSince(-50)).toBe('+0.0s');
    expect(formatSince(NaN)).toBe('');
  });
});

describe('serverSkew', () => {
  it('keeps the smallest difference seen', () => {
    let s = NaN;
    s = serverSkew(s, 1000, 1800);
    s = serverSkew(s, 2000, 2300);
    s = serverSkew(s, 3000, 5000);
    s = serverSkew(s, NaN, 5000);
    expect(s).toBe(300);
  });
});
