// logTimes says when each byte of a log arrived: the server stores each chunk a
// runner uploads with its arrival time (GET /jobs/{id}/log/times), and log events
// carry the time of the chunk they come from. A line's time is the time of the
// chunk holding its newline (see lineEndOffset), a group's duration the time of
// its ::endgroup:: line less that of its ::group:: line.
import type { Group } from './groups';

// ChunkTimes holds chunk start offsets (ascending) and their arrival times (ms
// since the epoch); a chunk runs to the next one's offset. Bytes [0, end) have a
// known time, except in runs marked NaN: bytes that arrived with no time (fetched
// over HTTP while the event stream was down), until a fetch of the times fills them.
export class ChunkTimes {
  private offs = new Float64Array(64);
  private times = new Float64Array(64);
  count = 0;
  end = 0;

  private push(offset: number, time: number) {
    if (this.count === this.offs.length) {
      const o = new Float64Array(this.count * 2);
      const t = new Float64Array(this.count * 2);
      o.set(this.offs);
      t.set(this.times);
      this.offs = o;
      this.times = t;
    }
    this.offs[this.count] = offset;
    this.times[this.count] = time;
    this.count++;
  }

  // add records that bytes [offset, offset+length) arrived at time (a log event).
  // Bytes already known keep their time; a gap before offset is marked unknown.
  add(offset: number, length: number, time: number): void {
    const stop = offset + length;
    if (stop <= this.end || length <= 0) return;
    if (offset > this.end) this.push(this.end, NaN);
    const from = Math.max(offset, this.end);
    if (this.count > 0 && this.offs[this.count - 1] === from) this.times[this.count - 1] = time;
    else this.push(from, time);
    this.end = stop;
  }

  // merge takes the chunks a fetch of the times returned (in offset order), which
  // hold every byte before coveredTo; what was known past them stays.
  merge(chunks: ReadonlyArray<{ offset: number; time: number }>, coveredTo: number): void {
    if (chunks.length === 0) return;
    // The fetch tells the time of bytes [0, from) (its last chunk has a byte at least).
    const from = Math.max(coveredTo, chunks[chunks.length - 1]!.offset + 1);
    const end = this.end;
    const atFrom = this.at(from);
    let k = 0;
    while (k < this.count && this.offs[k]! < from) k++;
    const keepOffs = this.offs.slice(k, this.count);
    const keepTimes = this.times.slice(k, this.count);
    this.count = 0;
    for (const c of chunks) {
      if (this.count > 0 && c.offset <= this.offs[this.count - 1]!) continue;
      this.push(c.offset, c.time);
    }
    // Bytes from `from` on keep the time they had (or stay unknown).
    if (from < end && keepOffs[0] !== from) this.push(from, atFrom);
    for (let i = 0; i < keepOffs.length; i++) this.push(keepOffs[i]!, keepTimes[i]!);
    this.end = Math.max(end, from);
  }

  // at returns when byte `off` arrived, or NaN if that is not known.
  at(off: number): number {
    if (off < 0 || off >= this.end || this.count === 0 || off < this.offs[0]!) return NaN;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offs[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    return this.times[lo]!;
  }

  // first is the arrival time of the first chunk, NaN if none.
  first(): number {
    return this.count > 0 ? this.times[0]! : NaN;
  }
}

// lineEndOffset is the offset of line i's last byte: its newline, or for the last
// line (still growing) the last byte held. A line's time is when that byte arrived:
// a line is complete, and shown whole, when its newline arrives, which is also
// what `ts` and CI runners stamp. starts are the lines' start offsets (relative
// to the bytes held), base the log offset of the first byte held.
export function lineEndOffset(starts: ArrayLike<number>, count: number, length: number, base: number, i: number): number {
  const end = i + 1 < count ? starts[i + 1]! - 1 : length - 1;
  return base + Math.max(end, starts[i]!);
}

// GroupTimes are a group's start and end (ms): the time of its ::group:: line and
// of its last line (the ::endgroup::, or while it is open the last line so far);
// NaN when not known.
export interface GroupTimes {
  t0: number;
  t1: number;
}

// groupTimes times each group by its lines' times.
export function groupTimes(groups: readonly Group[], lineTime: (line: number) => number): GroupTimes[] {
  return groups.map((g) => ({ t0: lineTime(g.start), t1: lineTime(g.end) }));
}

// groupDuration is how long a group took, in ms: its end less its start, or for
// a group still running, `now` (on the same clock) less its start. NaN when not
// known.
export function groupDuration(t: GroupTimes, now?: number): number {
  const d = (now ?? t.t1) - t.t0;
  return Number.isFinite(d) ? Math.max(0, d) : NaN;
}

// formatSince writes a time since the job started, compactly for a log gutter:
// "+0.4s", "+12.3s", "+1:23.4", "+1:02:03". Tenths are cut, not rounded, so a
// line never looks later than it was. Empty when not known.
export function formatSince(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  const t = Math.floor(Math.max(0, ms) / 100); // tenths of a second
  const tenths = t % 10;
  const s = Math.floor(t / 10);
  if (s < 60) return `+${s}.${tenths}s`;
  const sec = String(s % 60).padStart(2, '0');
  const m = Math.floor(s / 60);
  if (m < 60) return `+${m}:${sec}.${tenths}`;
  return `+${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${sec}`;
}

// serverSkew estimates how far the browser's clock is ahead of the server's from
// a server time seen `now` (an event's time, a Date header): now - seen is the skew
// plus the delay, so the smallest such value over time is the best estimate.
export function serverSkew(prev: number, seen: number, now: number): number {
  const d = now - seen;
  if (!Number.isFinite(d)) return prev;
  return Number.isFinite(prev) ? Math.min(prev, d) : d;
}
