import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import type { Schemas } from '../api/client';
import { ANONYMOUS, type Me } from '../api/me';
import { UserMenuView } from './UserMenu';

const user = (name: string, displayName: string): Schemas['User'] => ({
  id: 7,
  name,
  displayName,
  email: `${name}@example.org`,
  admin: false,
  disabled: false,
  createdAt: '2026-12-01T10:00:00Z',
  lastSignInAt: null,
  identities: [],
});

function render(me: Me | undefined): string {
  return renderToStaticMarkup(createElement(MemoryRouter, null, createElement(UserMenuView, { me, onSignOut: () => {} })));
}

const links = (html: string) => [...html.matchAll(/<a [^>]*>([^<]*)<\/a>/g)].map((m) => m[1]);

describe('the user menu', () => {
  it('offers only Sign in to the signed-out', () => {
    expect(links(render(ANONYMOUS))).toEqual(['Sign in']);
    expect(links(render(undefined))).toEqual(['Sign in']);
  });

  it('names a user and links their account, but no admin pages they may not use', () => {
    const html = render({ kind: 'user', name: 'alice', user: user('alice', 'Alice Liddell'), permissions: ANONYMOUS.permissions });
    expect(html).toContain('Alice Liddell');
    expect(links(html)).toEqual(['Account']);
    expect(html).toContain('Sign out');
  });

  it('links Users and Audit as /me permits them', () => {
    const admin: Me = { kind: 'user', name: 'root', user: user('root', 'Root'), permissions: { ...ANONYMOUS.permissions, admin: true, manageUsers: true, readAudit: true } };
    expect(links(render(admin))).toEqual(['Account', 'Users', 'Audit']);
    const auditor: Me = { ...admin, permissions: { ...ANONYMOUS.permissions, readAudit: true } };
    expect(links(render(auditor))).toEqual(['Account', 'Audit']);
  });

  it('keeps the words for a pasted token, which has no account', () => {
    const html = render({ kind: 'project', name: 'demo', project: 'demo', permissions: ANONYMOUS.permissions });
    expect(html).toContain('Signed in (project demo)');
    expect(links(html)).not.toContain('Account');
  });

  it('shows a display name as text, never as markup', () => {
    const html = render({ kind: 'user', name: 'vera', user: user('vera', '<img src=x onerror=alert(1)>'), permissions: ANONYMOUS.permissions });
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});
