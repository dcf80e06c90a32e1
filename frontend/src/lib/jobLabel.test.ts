import { describe, expect, it } from 'vitest';
import { awaitsApproval, isSkipped, skipCause, statusClass, statusLabel } from './jobLabel';

describe('jobLabel', () => {
  it('calls a job cancelled for its preceding job skipped, and says why', () => {
    const j = { status: 'cancelled', reason: 'preceding job build #3 failed' };
    expect(isSkipped(j)).toBe(true);
    expect(statusLabel(j)).toBe('skipped');
    expect(statusClass(j)).toBe('st-skipped');
    expect(skipCause(j)).toBe('build #3 failed');
  });
  it('leaves a job a person cancelled cancelled', () => {
    const j = { status: 'cancelled', reason: 'cancelled by user' };
    expect(isSkipped(j)).toBe(false);
    expect(statusLabel(j)).toBe('cancelled');
    expect(skipCause(j)).toBeUndefined();
    expect(statusLabel({ status: 'timed_out' })).toBe('timed out');
  });
  it('says a job waits for approval', () => {
    const j = { status: 'waiting', waitingFor: { approval: 7 } };
    expect(awaitsApproval(j)).toBe(7);
    expect(statusLabel(j)).toBe('needs approval');
    expect(statusClass(j)).toBe('st-approval');
    // The gate itself, in a history grid that knows only its name.
    expect(statusLabel({ status: 'waiting', name: 'approval' })).toBe('needs approval');
    expect(statusLabel({ status: 'succeeded', name: 'approval' })).toBe('succeeded');
    expect(awaitsApproval({ status: 'queued', waitingFor: { approval: 7 } })).toBeUndefined();
  });
});
