import { describe, expect, it } from 'vitest';
import { emptyJob, parseEnv, toRow, toTemplates } from './JobTemplates';

describe('job templates', () => {
  it('reads KEY=value lines, keeping = in values and skipping blank lines', () => {
    expect(parseEnv('A=1\n\nB=x=y\n')).toEqual({ env: { A: '1', B: 'x=y' } });
    expect(parseEnv('=1').error).toContain('“=1”');
    expect(parseEnv('oops').error).toContain('not KEY=value');
  });

  it('turns rows into templates and back', () => {
    const t = { name: 'build', cmd: 'make', tag: 'linux', env: { A: '1' }, secrets: ['K1', 'K2'] };
    expect(toTemplates([toRow(t)])).toEqual({ jobs: [t] });
    const row = { ...emptyJob(), tag: ' linux ', cmd: 'x', secrets: 'A, B  C' };
    expect(toTemplates([row]).jobs?.[0]).toMatchObject({ name: 'build', tag: 'linux', secrets: ['A', 'B', 'C'] });
    expect(toTemplates([{ ...row, env: 'bad' }]).error).toMatch(/^Job 1: /);
  });
});
