import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Me } from '../api/me';
import { shownTabs } from './Project';

const as = (read: boolean, manage: boolean): Me => ({
  kind: 'user',
  name: 'u',
  permissions: { ...ANONYMOUS.permissions, projects: { demo: { read, submit: manage, cancel: manage, retry: manage, approve: manage, manage } } },
});

describe('the project tabs', () => {
  it('show a member the members, and a maintainer everything', () => {
    expect(shownTabs(as(true, false), 'demo')).toEqual(['jobs', 'schedules', 'members', 'caches']);
    expect(shownTabs(as(true, true), 'demo')).toEqual(['jobs', 'schedules', 'members', 'integrations', 'secrets', 'caches', 'notifications']);
  });
  it('show the signed-out and strangers the jobs only', () => {
    expect(shownTabs(ANONYMOUS, 'demo')).toEqual(['jobs', 'schedules', 'caches']);
    expect(shownTabs(undefined, 'demo')).toEqual(['jobs', 'schedules', 'caches']);
    expect(shownTabs(as(true, true), 'other')).toEqual(['jobs', 'schedules', 'caches']);
  });
});
