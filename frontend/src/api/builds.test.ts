import { describe, expect, it } from 'vitest';
import { authorOf, buildLabel, buildsQuery } from './builds';
import { webLink } from '../components/Builds';

describe('builds', () => {
  it('labels a build by its title, its message, its request, or itself', () => {
    const b = { key: 'commit', value: 'abc', title: '', meta: {} };
    expect(buildLabel({ ...b, title: 'Fix it' })).toBe('Fix it');
    expect(buildLabel({ ...b, meta: { message: 'First line\n\nbody' } })).toBe('First line');
    expect(buildLabel({ ...b, meta: { requestTitle: 'Add a thing' } })).toBe('Add a thing');
    expect(buildLabel(b)).toBe('commit/abc');
  });
  it('filters by login, or by name without one', () => {
    expect(authorOf({ authorLogin: 'ann', authorName: 'Ann' })).toBe('ann');
    expect(authorOf({ authorName: 'Bob' })).toBe('Bob');
    expect(authorOf({})).toBe('');
  });
  it('keys each page and filter apart, on the project topic', () => {
    const a = buildsQuery('p', { status: 'failure' });
    const b = buildsQuery('p', { status: 'failure' }, 'NTA');
    expect(a.key).not.toEqual(b.key);
    expect(a.topics).toEqual(['project:p']);
  });
  it('links only to web addresses', () => {
    expect(webLink('https://forge/x/commit/1')).toBe('https://forge/x/commit/1');
    expect(webLink('javascript:alert(1)')).toBeUndefined();
    expect(webLink(undefined)).toBeUndefined();
  });
});
