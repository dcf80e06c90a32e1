import { describe, expect, it } from 'vitest';
import { formatLineHash, inRange, parseLineHash, selectLine } from './lineRange';

describe('line ranges', () => {
  it('parses hashes', () => {
    expect(parseLineHash('#L120')).toEqual({ start: 120, end: 120 });
    expect(parseLineHash('#L120-L140')).toEqual({ start: 120, end: 140 });
    expect(parseLineHash('#L140-L120')).toEqual({ start: 120, end: 140 });
    expect(parseLineHash('L5')).toEqual({ start: 5, end: 5 });
    expect(parseLineHash('#L0')).toBeNull();
    expect(parseLineHash('#foo')).toBeNull();
    expect(parseLineHash('')).toBeNull();
  });
  it('formats hashes', () => {
    expect(formatLineHash({ start: 7, end: 7 })).toBe('#L7');
    expect(formatLineHash({ start: 7, end: 9 })).toBe('#L7-L9');
  });
  it('extends a selection with shift', () => {
    expect(selectLine(null, 5, true)).toEqual({ start: 5, end: 5 });
    expect(selectLine({ start: 5, end: 5 }, 9, false)).toEqual({ start: 9, end: 9 });
    expect(selectLine({ start: 5, end: 5 }, 9, true)).toEqual({ start: 5, end: 9 });
    expect(selectLine({ start: 5, end: 9 }, 2, true)).toEqual({ start: 2, end: 5 });
    expect(inRange({ start: 2, end: 5 }, 5)).toBe(true);
    expect(inRange({ start: 2, end: 5 }, 6)).toBe(false);
    expect(inRange(null, 1)).toBe(false);
  });
});
