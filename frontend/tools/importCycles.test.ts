import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycles, importGraph } from './importCycles';

describe('findCycles', () => {
  it('finds a circle through a page and the app, and a module importing itself', () => {
    const g = new Map([
      ['App.tsx', ['pages/Job.tsx', 'api/client.ts']],
      ['pages/Job.tsx', ['App.tsx', 'api/client.ts']],
      ['api/client.ts', []],
      ['lib/self.ts', ['lib/self.ts']],
    ]);
    expect(findCycles(g)).toEqual([['App.tsx', 'pages/Job.tsx'], ['lib/self.ts']]);
  });
  it('finds none in a tree', () => {
    expect(findCycles(new Map([['a.ts', ['b.ts', 'c.ts']], ['b.ts', ['c.ts']], ['c.ts', []]]))).toEqual([]);
  });
});

describe('the web app', () => {
  const src = fileURLToPath(new URL('../src', import.meta.url));
  it('reads its imports', () => {
    const g = importGraph(src);
    expect(g.get('App.tsx')).toContain('pages/Job.tsx');
    // A lazy tab is an import too.
    expect(g.get('pages/Project.tsx')).toContain('pages/Integrations.tsx');
  });
  it('has no import circle', () => {
    expect(findCycles(importGraph(src))).toEqual([]);
  });
});
