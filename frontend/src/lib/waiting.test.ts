import { describe, expect, it } from 'vitest';
import { waitText } from './waiting';

describe('waitText', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('names the preceding jobs and the delay', () => {
    const t = waitText(
      {
        status: 'waiting',
        waitingFor: { jobs: [{ id: 3, name: 'build:macos', status: 'queued' }], until: '2026-01-01T12:05:00Z' },
      },
      now,
    );
    expect(t[0]).toBe('waiting for build:macos (#3), which has not started');
    expect(t[1]).toMatch(/^delayed until .* \(in 5 min\)$/);
  });
  it('says what the server says of the runners, with no rule of its own', () => {
    // The server's rule is 10 minutes; a runner that asked 3 min ago is not stale.
    const runner = { tag: 'gpu', lastCheckIn: '2026-01-01T11:57:00Z', message: 'waiting for a free runner with tag `gpu`' };
    expect(waitText({ status: 'queued', waitingFor: { jobs: [], runner } }, now)).toEqual(['waiting for a free runner with tag `gpu`']);
    const never = { tag: 'gpu', message: 'no runner has ever asked for tag `gpu`' };
    expect(waitText({ status: 'queued', waitingFor: { jobs: [], runner: never } }, now)).toEqual(['no runner has ever asked for tag `gpu`']);
    expect(waitText({ status: 'queued' }, now)).toEqual([]);
  });
});
