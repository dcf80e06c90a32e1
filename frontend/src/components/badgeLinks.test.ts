import { describe, expect, it } from 'vitest';
import { badgeLinks, seg } from './badgeLinks';

describe('badgeLinks', () => {
  it('links an entity badge to its page', () => {
    expect(badgeLinks('https://ci.example', 'demo', 'commit', 'f2ac9bab', false)).toEqual({
      badge: 'https://ci.example/badge/demo/commit/f2ac9bab.svg',
      page: 'https://ci.example/p/demo/commit/f2ac9bab',
      markdown: '[![aura](https://ci.example/badge/demo/commit/f2ac9bab.svg)](https://ci.example/p/demo/commit/f2ac9bab)',
    });
  });

  it('puts a collection badge under /c/ and links the collection page', () => {
    const l = badgeLinks('http://127.0.0.1:8420/', 'demo', 'ref', 'main', true);
    expect(l.badge).toBe('http://127.0.0.1:8420/badge/demo/c/ref/main.svg');
    expect(l.page).toBe('http://127.0.0.1:8420/p/demo/ref/main');
  });

  it('encodes every segment, parentheses included', () => {
    expect(seg('feature:x/y')).toBe('feature%3Ax%2Fy');
    expect(seg("a(b)!*'")).toBe('a%28b%29%21%2A%27');
    const l = badgeLinks('https://ci.example', 'my proj', 'ref', 'fix:(1)', true);
    expect(l.markdown).toBe('[![aura](https://ci.example/badge/my%20proj/c/ref/fix%3A%281%29.svg)](https://ci.example/p/my%20proj/ref/fix%3A%281%29)');
    expect(l.markdown.match(/\)/g)).toHaveLength(2);
  });
});
