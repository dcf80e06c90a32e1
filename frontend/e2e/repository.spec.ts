// The repository is self-contained: a plain clone passes its own tests, so no
// file may reach for something beside the clone (such as a sibling shared folder).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './harness';

describe('the repository', () => {
  it('refers to nothing beside the clone', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && !f.startsWith('node_modules/'));
    // Spelled in two parts so this file does not find itself.
    const outside = ['..', 'shared'].join('/');
    const found = files.filter((f) => {
      try {
        return readFileSync(join(root, f), 'utf8').includes(outside);
      } catch {
        return false; // removed from the work tree but still in the index
      }
    });
    expect(found).toEqual([]);
  });
});
