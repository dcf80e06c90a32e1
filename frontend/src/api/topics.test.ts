import { describe, expect, it } from 'vitest';
import { topics } from './topics';

// The spellings the server's hub accepts (openapi.yaml, GET /api/v1/events).
describe('topics', () => {
  it('spells each topic as the server does', () => {
    expect(topics.project('demo')).toBe('project:demo');
    expect(topics.entity('demo', 'commit', 'abc')).toBe('entity:demo/commit/abc');
    expect(topics.collection('demo', 'ref', 'main')).toBe('collection:demo/ref/main');
    expect(topics.job(42)).toBe('job:42');
    expect(topics.log(42)).toBe('log:42');
    expect(topics.queue).toBe('queue');
    expect(topics.runners).toBe('runners');
  });
});
