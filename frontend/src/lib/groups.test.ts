import { describe, expect, it } from 'vitest';
import { findGroups, groupMarker, RowMap } from './groups';

describe('groups', () => {
  it('recognises markers', () => {
    expect(groupMarker('::group::Build it')).toEqual({ start: 'Build it' });
    expect(groupMarker('\x1b[36m::group::Colour\x1b[0m')).toEqual({ start: 'Colour' });
    expect(groupMarker('::endgroup::')).toBe('end');
    expect(groupMarker('echo ::group::x')).toBeNull();
  });
  it('finds nested and open groups', () => {
    const lines = ['a', '::group::one', 'b', '::group::two', 'c', '::endgroup::', '::endgroup::', '::group::three', 'd'];
    expect(findGroups(lines)).toEqual([
      { start: 1, end: 6, title: 'one', open: false, depth: 0 },
      { start: 3, end: 5, title: 'two', open: false, depth: 1 },
      { start: 7, end: 8, title: 'three', open: true, depth: 0 },
    ]);
  });
  it('maps rows to lines around collapsed groups', () => {
    const lines = ['a', '::group::one', 'b', 'c', '::endgroup::', 'd', '::group::two', 'e', '::endgroup::', 'f'];
    const groups = findGroups(lines);
    const m = new RowMap(lines.length, groups, new Set([1, 6]));
    expect(m.rows).toBe(10 - 3 - 2);
    expect([0, 1, 2, 3, 4].map((r) => m.lineOf(r))).toEqual([0, 1, 5, 6, 9]);
    expect(m.rowOf(0)).toBe(0);
    expect(m.rowOf(3)).toBe(1);
    expect(m.rowOf(5)).toBe(2);
    expect(m.rowOf(7)).toBe(3);
    expect(m.rowOf(9)).toBe(4);
    const open = new RowMap(lines.length, groups, new Set());
    expect(open.rows).toBe(10);
    expect(open.lineOf(7)).toBe(7);
  });
});
