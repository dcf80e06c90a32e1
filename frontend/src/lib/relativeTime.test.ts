import { describe, expect, it } from 'vitest';
import { formatDuration, refreshDelay, relativeTime } from './relativeTime';

describe('relativeTime', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('says how long ago', () => {
    expect(relativeTime(now - 2000, now)).toBe('just now');
    expect(relativeTime(now - 42_000, now)).toBe('42 s ago');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relativeTime('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime(now - 3 * 86400_000, now)).toBe('3 d ago');
    expect(relativeTime(now - 400 * 86400_000, now)).toBe('13 mo ago');
    expect(relativeTime(now - 1000 * 86400_000, now)).toBe('2 y ago');
  });
  it('says how far ahead', () => {
    expect(relativeTime(now + 3 * 3600_000, now)).toBe('in 3 h');
  });
  it('is empty for a bad date', () => {
    expect(relativeTime('nope', now)).toBe('');
  });
  it('refreshes often only while the text changes often', () => {
    expect(refreshDelay(now - 10_000, now)).toBe(1000);
    expect(refreshDelay(now - 600_000, now)).toBe(10_000);
    expect(refreshDelay(now - 7200_000, now)).toBe(60_000);
  });
});

describe('formatDuration', () => {
  it('writes durations', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(245_000)).toBe('4 min 05 s');
    expect(formatDuration(7_380_000)).toBe('2 h 03 min');
  });
});
