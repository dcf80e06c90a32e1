/// <reference lib="webworker" />
// logWorker holds one attempt's log off the main thread: it fetches the tail first
// (the log API's offset/limit), then the earlier part, indexes lines, finds
// groups, answers requests for lines by number and searches the whole log.
// It also keeps when each chunk arrived (GET /jobs/{id}/log/times, then the time
// each log event carries), so lines and groups come with their times since the
// job started, found by binary search here rather than on the page.
//
// Lines are numbered from the first byte held (`base`); until the earlier part has
// arrived, the page shows the tail without absolute line numbers. The messages
// both ways are in logProtocol.ts; useLogWorker is the page's side.
import { applyChunk, emptyLog, indexLines, lineBytes, prependBytes, type LineIndex, type LogState } from '../lib/logBuffer';
import { GroupScanner } from '../lib/groups';
import { ChunkTimes, groupTimes, lineEndOffset, serverSkew } from '../lib/logTimes';
import { api } from '../api/client';
import type { FromWorker, Meta, TimedGroup, ToWorker } from './logProtocol';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let job = 0;
let attempt: number | null = null;
let token: string | null = null;
let base = 0;
let log: LogState = emptyLog;
let idx: LineIndex | undefined;
let groups = new GroupScanner();
let scanned = 0; // lines fed to the group scanner
let epoch = 0;
let busy: Promise<void> = Promise.resolve();
let error: string | undefined;
const times = new ChunkTimes();
let origin = NaN;
let skew = NaN;
let timesVer = 0;
let timesFailed = false;
let timesTimer: ReturnType<typeof setTimeout> | undefined;
let timesFetched = 0; // when times were last fetched (Date.now())
const dec = new TextDecoder();
const COLON = 0x3a;
const ESC = 0x1b;

function url(offset: number, limit?: number): string {
  const q = new URLSearchParams({ offset: String(offset) });
  if (attempt !== null) q.set('attempt', String(attempt));
  if (limit !== undefined) q.set('limit', String(limit));
  return `/api/v1/jobs/${job}/log?${q}`;
}

async function get(offset: number, limit?: number): Promise<{ bytes: Uint8Array; total: number }> {
  const res = await fetch(url(offset, limit), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (res.status === 410) {
    // The retention sweep deleted the log: the answer says when.
    const body = (await res.json().catch(() => null)) as { message?: string } | null;
    throw new Error(body?.message ?? 'the log expired');
  }
  if (!res.ok) throw new Error(`log: ${res.status}`);
  const total = Number(res.headers.get('X-Log-Length') ?? '0');
  return { bytes: new Uint8Array(await res.arrayBuffer()), total };
}

function scanGroups() {
  if (!idx) return;
  for (; scanned < idx.count; scanned++) {
    const start = idx.starts[scanned]!;
    const c = log.bytes[start];
    // Only lines that can be markers are decoded.
    if (start < log.length && (c === COLON || c === ESC)) {
      // The last line may still grow: look at it again next time.
      if (scanned === idx.count - 1 && log.bytes[log.length - 1] !== 0x0a) break;
      groups.add(scanned, dec.decode(lineBytes(log, idx, scanned).subarray(0, 400)));
    } else {
      groups.add(scanned, '');
    }
  }
}

function meta(prepended = 0) {
  scanGroups();
  const m: Meta = {
    t: 'meta',
    count: idx?.count ?? 0,
    complete: base === 0,
    epoch,
    prepended,
    length: base + log.length,
    groups: groupsTimed(),
    origin,
    skew,
    timesVer,
  };
  if (error) m.error = error;
  post(m);
}

// lineArrival is when line i was complete (its newline arrived), in ms since the epoch.
function lineArrival(i: number): number {
  if (!idx || i < 0 || i >= idx.count) return NaN;
  return times.at(lineEndOffset(idx.starts, idx.count, log.length, base, i));
}

function groupsTimed(): TimedGroup[] {
  const gs = groups.result();
  const ts = groupTimes(gs, lineArrival);
  return gs.map((g, k) => ({ ...g, ...ts[k]! }));
}

// fetchTimes reads the times of the chunks stored so far: all bytes held now are
// among them.
async function fetchTimes() {
  const coveredTo = base + log.length;
  timesFetched = Date.now();
  const { data, response } = await api.GET('/api/v1/jobs/{id}/log/times', {
    params: { path: { id: job }, query: attempt !== null ? { attempt } : {} },
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (!data) {
    // A server without the times (or a job it will not show) shows the log
    // without them; after a server error, the next scheduleTimes tries again.
    if (response.status < 500) timesFailed = true;
    return;
  }
  const date = Date.parse(response.headers.get('Date') ?? '');
  skew = serverSkew(skew, date, Date.now());
  times.merge(
    data.chunks.map((c) => ({ offset: c.offset, time: Date.parse(c.time) })),
    coveredTo,
  );
  // Only the current attempt's start is kept; an earlier one counts from its first output.
  origin = data.startedAt ? Date.parse(data.startedAt) : times.first();
  timesVer++;
  meta();
}

// timesOrNot fetches the times; after a network error the log shows without
// them until the next scheduleTimes.
async function timesOrNot() {
  try {
    await fetchTimes();
  } catch {
    // Not an error of the log.
  }
}

function timesNeeded(): boolean {
  return !timesFailed && base + log.length > 0 && (times.end < base + log.length || Number.isNaN(origin));
}

// scheduleTimes fetches the times again, soon but at most every few seconds, when
// bytes came without them (fetched while the event stream was down) or the start
// is not known yet (the page opened before the job started).
function scheduleTimes() {
  if (timesTimer !== undefined || !timesNeeded()) return;
  const wait = Math.max(1000, timesFetched + 5000 - Date.now());
  timesTimer = setTimeout(() => {
    timesTimer = undefined;
    if (timesNeeded()) queue(timesOrNot);
  }, wait);
}

async function open(tail: number) {
  const head = await get(0, 1);
  const total = head.total;
  const start = Math.max(0, total - tail);
  let bytes = total <= head.bytes.length ? head.bytes : (await get(start)).bytes;
  base = start;
  if (start > 0) {
    // The tail begins inside a line: start at the next whole one.
    const nl = bytes.indexOf(0x0a);
    const skip = nl < 0 ? bytes.length : nl + 1;
    bytes = bytes.subarray(skip);
    base = start + skip;
  }
  const r = applyChunk(emptyLog, { offset: 0, bytes });
  log = r.ok ? r.state : emptyLog;
  idx = indexLines(log);
  meta();
  await timesOrNot();
  if (base > 0) await loadEarlier();
}

// loadEarlier fetches bytes [0, base) in pieces and puts them in front.
async function loadEarlier() {
  const PIECE = 8 << 20;
  const parts: Uint8Array[] = [];
  for (let off = 0; off < base; off += PIECE) {
    parts.push((await get(off, Math.min(PIECE, base - off))).bytes);
  }
  const earlier = new Uint8Array(base);
  let at = 0;
  for (const p of parts) {
    earlier.set(p.subarray(0, base - at), at);
    at += p.length;
  }
  const before = idx?.count ?? 0;
  log = prependBytes(earlier, log);
  base = 0;
  idx = indexLines(log);
  groups = new GroupScanner();
  scanned = 0;
  epoch++;
  folded = undefined;
  foldedLen = 0;
  meta(idx.count - before);
}

async function more() {
  const have = base + log.length;
  const got = await get(have);
  if (got.bytes.length === 0) return;
  const r = applyChunk(log, { offset: have - base, bytes: got.bytes });
  if (!r.ok || r.added === 0) return;
  log = r.state;
  idx = indexLines(log, idx);
  meta();
  scheduleTimes();
}

// chunk applies bytes that arrived on the event stream at byte `offset` of the log;
// a gap (bytes missed) fetches from what is held instead. `time` is when the
// server received them.
async function chunk(offset: number, bytes: Uint8Array, time: number) {
  times.add(offset, bytes.length, time);
  skew = serverSkew(skew, time, Date.now());
  if (Number.isNaN(origin)) scheduleTimes();
  if (offset + bytes.length <= base) return;
  if (offset < base) {
    bytes = bytes.subarray(base - offset);
    offset = base;
  }
  const r = applyChunk(log, { offset: offset - base, bytes });
  if (!r.ok) return more();
  if (r.added === 0) return;
  log = r.state;
  idx = indexLines(log, idx);
  meta();
}

function lines(from: number, to: number, e: number) {
  if (!idx || e !== epoch) return;
  const out: string[] = [];
  to = Math.min(to, idx.count);
  for (let i = Math.max(0, from); i < to; i++) out.push(dec.decode(lineBytes(log, idx, i)));
  const ts = lineTimes(from, to);
  post({ t: 'lines', from, lines: out, times: ts, epoch }, [ts.buffer]);
}

function lineTimes(from: number, to: number): Float64Array {
  const out = new Float64Array(Math.max(0, to - from));
  for (let i = 0; i < out.length; i++) out[i] = lineArrival(from + i) - origin;
  return out;
}

function timesOf(from: number, to: number, e: number, ver: number) {
  if (!idx || e !== epoch || ver !== timesVer) return;
  from = Math.max(0, from);
  const ts = lineTimes(from, Math.min(to, idx.count));
  post({ t: 'times', from, times: ts, epoch, ver }, [ts.buffer]);
}

// folded is the log with ASCII letters in lower case, for searches that ignore
// case; it grows with the log and is rebuilt when earlier lines are put in front.
let folded: Uint8Array | undefined;
let foldedLen = 0;

function foldedBytes(): Uint8Array {
  if (!folded || folded.length < log.length) {
    const f = new Uint8Array(log.bytes.length);
    if (folded) f.set(folded.subarray(0, foldedLen));
    folded = f;
  }
  const b = log.bytes;
  const f = folded;
  for (let i = foldedLen; i < log.length; i++) {
    const c = b[i]!;
    f[i] = c >= 65 && c <= 90 ? c + 32 : c;
  }
  foldedLen = log.length;
  return f;
}

const MAX_MATCHES = 100_000;
const enc = new TextEncoder();

// search finds q in the bytes of the whole log (no decoding: the query is UTF-8
// encoded instead), and maps each match to its line through the line index.
function search(q: string, req: number, caseSensitive: boolean) {
  const t0 = performance.now();
  if (q === '' || !idx) {
    post({ t: 'search', req, lines: new Int32Array(0), total: 0, epoch, ms: 0 });
    return;
  }
  const needle = enc.encode(caseSensitive ? q : q.replace(/[A-Z]+/g, (c) => c.toLowerCase()));
  const hay = caseSensitive ? log.bytes : foldedBytes();
  const found = new Int32Array(MAX_MATCHES);
  const first = needle[0]!;
  const n = needle.length;
  const last = log.length - n;
  const starts = idx.starts;
  let count = 0;
  let total = 0;
  let line = 0;
  let p = hay.indexOf(first);
  while (p >= 0 && p <= last) {
    let k = 1;
    while (k < n && hay[p + k] === needle[k]) k++;
    if (k === n) {
      total++;
      if (count < MAX_MATCHES) {
        while (line + 1 < idx.count && starts[line + 1]! <= p) line++;
        found[count++] = line;
      }
      p += n;
    } else {
      p++;
    }
    p = hay.indexOf(first, p);
  }
  const lines = found.slice(0, count);
  post({ t: 'search', req, lines, total, epoch, ms: performance.now() - t0 }, [lines.buffer]);
}

function queue(f: () => Promise<void> | void) {
  busy = busy
    .then(f)
    .catch((e: unknown) => {
      error = String(e instanceof Error ? e.message : e);
      meta();
    });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.t) {
    case 'open':
      job = m.job;
      attempt = m.attempt;
      token = m.token;
      queue(() => open(m.tail));
      break;
    case 'more':
      queue(more);
      break;
    case 'chunk':
      queue(() => chunk(m.offset, m.bytes, m.time));
      break;
    case 'lines':
      // Lines are answered at once, even while a fetch is in flight.
      lines(m.from, m.to, m.epoch);
      break;
    case 'times':
      timesOf(m.from, m.to, m.epoch, m.ver);
      break;
    case 'search':
      queue(() => search(m.q, m.req, m.caseSensitive));
      break;
  }
};
