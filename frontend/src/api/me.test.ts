import { describe, expect, it } from 'vitest';
import type { Schemas } from './client';
import { ANONYMOUS, kindText, mayAct, mayManageMembers, mayReadMembers, userOf, type Me } from './me';

const alice: Schemas['User'] = {
  id: 1,
  name: 'alice',
  displayName: 'Alice Liddell',
  email: 'alice@example.org',
  admin: false,
  disabled: false,
  createdAt: '2026-12-01T10:00:00Z',
  lastSignInAt: null,
  identities: [],
};
const role = (cancel: boolean, manage: boolean) => ({ read: true, submit: cancel, cancel, retry: cancel, approve: cancel, manage });
const asUser = (projects: Me['permissions']['projects']): Me => ({
  kind: 'user',
  name: 'alice',
  user: alice,
  permissions: { ...ANONYMOUS.permissions, projects },
});

describe('what the app shows a user', () => {
  it('names the user by display name', () => {
    expect(kindText(asUser({}))).toBe('Alice Liddell');
    expect(userOf(asUser({}))?.name).toBe('alice');
    expect(userOf({ ...ANONYMOUS, kind: 'admin', name: 'admin' })).toBeUndefined();
  });
  it('gives a viewer no job buttons and no member controls', () => {
    const viewer = asUser({ demo: role(false, false) });
    expect(mayAct(viewer, 'demo')).toBe(false);
    expect(mayReadMembers(viewer, 'demo')).toBe(true);
    expect(mayManageMembers(viewer, 'demo')).toBe(false);
  });
  it('gives a developer the job buttons, a maintainer the members too', () => {
    expect(mayAct(asUser({ demo: role(true, false) }), 'demo')).toBe(true);
    expect(mayManageMembers(asUser({ demo: role(true, false) }), 'demo')).toBe(false);
    expect(mayManageMembers(asUser({ demo: role(true, true) }), 'demo')).toBe(true);
  });
  it('shows nothing of a project the user is no member of, nor to the signed-out', () => {
    const u = asUser({ demo: role(true, true) });
    expect(mayReadMembers(u, 'other')).toBe(false);
    expect(mayManageMembers(u, 'other')).toBe(false);
    expect(mayReadMembers(ANONYMOUS, 'demo')).toBe(false);
    expect(mayReadMembers(undefined, 'demo')).toBe(false);
  });
  it('lets an admin manage every project', () => {
    const admin: Me = { ...ANONYMOUS, kind: 'user', name: 'root', permissions: { ...ANONYMOUS.permissions, admin: true } };
    expect(mayManageMembers(admin, 'any')).toBe(true);
  });
});
