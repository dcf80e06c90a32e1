import { describe, expect, it } from 'vitest';
import { waitText } from './waiting';

describe('waitText', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('names the preceding jobs and the delay', () => {
    const t = waitText(
      {
        status: 'waiting',
        tag: 'gpu',
        waitingFor: { jobs: [{ id: 3, name: 'build:macos', status: 'queued' }], until: '2026-01-01T12:05:00Z' },
      },
      undefined,
      now,
    );
    expect(t[0]).toBe('waiting for build:macos (#3), which has not started');
    expect(t[1]).toMatch(/^delayed until .* \(in 5 min\)$/);
  });
  it('says when no runner asks for the tag', () => {
    expect(waitText({ status: 'queued', tag: 'gpu' }, [], now)).toEqual(['no runner takes tag gpu']);
    expect(
      waitText({ status: 'queued', tag: 'gpu' }, [{ tags: ['gpu'], lastCheckIn: '2026-01-01T09:00:00Z' }], now),
    ).toEqual(['no runner has asked for tag gpu since 3 h ago']);
    expect(waitText({ status: 'queued', tag: 'gpu' }, [{ tags: ['gpu'], lastCheckIn: '2026-01-01T11:59:50Z' }], now)).toEqual([
      'queued for tag gpu',
    ]);
  });
});
