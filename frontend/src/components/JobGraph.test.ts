import { describe, expect, it } from 'vitest';
import type { Job } from '../api/client';
import { layout } from './JobGraph';

const job = (id: number, precedingJobs: number[] = []) => ({ id, name: `j${id}`, status: 'queued', precedingJobs }) as unknown as Job;

describe('layout', () => {
  // A phone is 390 px wide, less the page's padding.
  const phone = 360;
  const chain = [job(1), job(2, [1]), job(3, [2]), job(4, [3]), job(5, [4]), job(6, [5])];

  it('lays a chain out across, too wide for a phone', () => {
    expect(layout(chain).width).toBeGreaterThan(phone);
  });

  it('lays it out downwards on a phone, one depth per row', () => {
    const l = layout(chain, true);
    expect(l.width).toBeLessThanOrEqual(phone);
    const ys = l.nodes.map((n) => n.y);
    expect([...ys].sort((a, b) => a - b)).toEqual(ys);
    expect(new Set(ys).size).toBe(6);
  });

  it('wraps a wide depth onto more rows on a phone', () => {
    const fan = [job(1), ...[2, 3, 4, 5, 6].map((i) => job(i, [1])), job(7, [2, 3, 4, 5, 6])];
    const l = layout(fan, true);
    expect(l.width).toBeLessThanOrEqual(phone);
    for (const n of l.nodes) expect(n.x + 160).toBeLessThanOrEqual(l.width);
    const last = l.nodes.find((n) => n.job.id === 7)!;
    expect(Math.max(...l.nodes.filter((n) => n.job.id !== 7).map((n) => n.y))).toBeLessThan(last.y);
  });
});
