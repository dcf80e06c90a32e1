import { describe, expect, it } from 'vitest';
import { actorText } from './actor';

describe('actorText', () => {
  it('names people and jobs as they are, tokens with their kind', () => {
    expect(actorText({ kind: 'admin', name: 'admin' })).toBe('admin');
    expect(actorText({ kind: 'user', name: 'alice' })).toBe('alice');
    expect(actorText({ kind: 'job', name: 'job 123' })).toBe('job 123');
    expect(actorText({ kind: 'forge', name: 'gitea delivery 3f2a' })).toBe('gitea delivery 3f2a');
    expect(actorText({ kind: 'project-token', name: 'deploy' })).toBe('deploy (project token)');
    expect(actorText({ kind: 'user-token', name: 'laptop' })).toBe('laptop (personal token)');
  });
});
