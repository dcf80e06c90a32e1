import { afterEach, describe, expect, it, vi } from 'vitest';
import { peek, refetch, watch, type Query, type Result } from './query';

// A fetch the test answers by hand, counting its requests and their aborts.
function manual<T>(key: unknown[]) {
  const calls: Array<{ signal: AbortSignal; answer: (r: Result<T>) => void }> = [];
  const q: Query<T> = {
    key,
    fetch: (signal) => new Promise((answer) => calls.push({ signal, answer })),
  };
  return { q: q as Query<unknown>, calls };
}

const turn = () => new Promise((ok) => setTimeout(ok, 0));
let n = 0;
const fresh = (name: string) => [name, ++n];

afterEach(() => vi.useRealTimers());

describe('watch', () => {
  it('shares one request between the pages that show the same data', async () => {
    const { q, calls } = manual<string>(fresh('job'));
    const offA = watch(q, () => {});
    const offB = watch(q, () => {});
    expect(calls).toHaveLength(1);
    calls[0]!.answer({ data: 'built' });
    await turn();
    // A third page later: the cached answer, and no request while others watch.
    const offC = watch(q, () => {});
    expect(calls).toHaveLength(1);
    offA();
    offB();
    offC();
  });

  it('aborts the request when the last page goes away, not before', async () => {
    const { q, calls } = manual<string>(fresh('runners'));
    const offA = watch(q, () => {});
    const offB = watch(q, () => {});
    offA();
    await turn();
    expect(calls[0]!.signal.aborted).toBe(false);
    offB();
    // The next page may take it over within the same turn (a route change).
    const offC = watch(q, () => {});
    await turn();
    expect(calls[0]!.signal.aborted).toBe(false);
    offC();
    await turn();
    expect(calls[0]!.signal.aborted).toBe(true);
  });

  it('fetches no more when a page takes over data within the turn the last one left', async () => {
    const { q, calls } = manual<string>(fresh('secrets'));
    const offA = watch(q, () => {});
    calls[0]!.answer({ data: 'A' });
    await turn();
    offA();
    const offB = watch(q, () => {});
    expect(calls).toHaveLength(1);
    offB();
    await turn();
    // Watched again later: the cached answer is fetched anew.
    const offC = watch(q, () => {});
    expect(peek(q).data).toBe('A');
    expect(calls).toHaveLength(2);
    offC();
  });

  it('fetches once more after a request that a change overtook', async () => {
    const { q, calls } = manual<number>(fresh('queue'));
    const off = watch(q, () => {});
    refetch(q.key);
    refetch(q.key);
    expect(calls).toHaveLength(1);
    calls[0]!.answer({ data: 1 });
    await turn();
    expect(calls).toHaveLength(2);
    calls[1]!.answer({ data: 2 });
    await turn();
    expect(peek(q).data).toBe(2);
    off();
  });

  it('keeps the data it had when a reload fails', async () => {
    const { q, calls } = manual<string>(fresh('project'));
    const off = watch(q, () => {});
    expect(peek(q).loading).toBe(true);
    calls[0]!.answer({ data: 'demo' });
    await turn();
    refetch(q.key);
    calls[1]!.answer({ error: 'request failed (502)', status: 502 });
    await turn();
    expect(peek(q)).toEqual({ data: 'demo', error: 'request failed (502)', status: 502, loading: false });
    off();
  });

  it('refetches by key prefix, and leaves unwatched entries for their next watch', async () => {
    const a = manual<string>(['secrets', 'p1', 'x']);
    const b = manual<string>(['secrets', 'p2']);
    const offA = watch(a.q, () => {});
    const offB = watch(b.q, () => {});
    a.calls[0]!.answer({ data: 'A' });
    b.calls[0]!.answer({ data: 'B' });
    await turn();
    refetch(['secrets', 'p1']);
    expect(a.calls).toHaveLength(2);
    expect(b.calls).toHaveLength(1);
    offA();
    offB();
  });
});
