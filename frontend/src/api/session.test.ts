import { describe, expect, it } from 'vitest';
import { invitationLink, loginHref, type Provider } from './session';

const provider = (loginUrl: string): Provider => ({ name: 'gitea', label: 'Gitea', kind: 'gitea', loginUrl });

describe('loginHref', () => {
  it('takes a path on this server', () => {
    expect(loginHref(provider('/auth/gitea/login'))).toBe('/auth/gitea/login');
  });
  it('refuses scripts and other sites, however the server spelled them', () => {
    for (const u of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', '//evil.example/auth', '/\\evil.example', 'https://evil.example/auth', 'data:text/html,x', '']) {
      expect(loginHref(provider(u)), u).toBeUndefined();
    }
  });
});

describe('invitationLink', () => {
  it('makes the server-relative link whole', () => {
    expect(invitationLink('/invite/abc_DEF-1', 'https://ci.example:8420')).toBe('https://ci.example:8420/invite/abc_DEF-1');
  });
  it('keeps a link to this server on this server', () => {
    expect(new URL(invitationLink('/invite/x', 'http://127.0.0.1:5000')).host).toBe('127.0.0.1:5000');
  });
});
