/// <reference lib="webworker" />
// logWorker holds one attempt's log off the main thread: it fetches the tail first
// (the log API's offset/limit), then the earlier part, indexes lines, finds
// groups, answers requests for lines by number and searches the whole log.
//
// Lines are numbered from the first byte held (`base`); until the earlier part has
// arrived, the page shows the tail without absolute line numbers.
import { applyChunk, emptyLog, indexLines, lineBytes, prependBytes, type LineIndex, type LogState } from '../lib/logBuffer';
import { GroupScanner, type Group } from '../lib/groups';

export type ToWorker =
  | { t: 'open'; job: number; attempt: number | null; token: string | null; tail: number }
  | { t: 'more' }
  | { t: 'chunk'; offset: number; bytes: Uint8Array }
  | { t: 'lines'; from: number; to: number; epoch: number }
  | { t: 'search'; q: string; req: number; caseSensitive: boolean };

export interface Meta {
  t: 'meta';
  count: number; // lines held
  complete: boolean; // base is 0: line i is line i+1 of the log
  epoch: number; // bumps when earlier lines were put in front
  prepended: number; // lines put in front in this epoch change
  length: number; // bytes of the log known
  groups: Group[];
  error?: string;
}

export type FromWorker =
  | Meta
  | { t: 'lines'; from: number; lines: string[]; epoch: number }
  | { t: 'search'; req: number; lines: Int32Array; total: number; epoch: number; ms: number };

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
    groups: groups.result().map((g) => ({ ...g })),
  };
  if (error) m.error = error;
  post(m);
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
}

// chunk applies bytes that arrived on the event stream at byte `offset` of the log;
// a gap (bytes missed) fetches from what is held instead.
async function chunk(offset: number, bytes: Uint8Array) {
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
  post({ t: 'lines', from, lines: out, epoch });
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
      queue(() => chunk(m.offset, m.bytes));
      break;
    case 'lines':
      // Lines are answered at once, even while a fetch is in flight.
      lines(m.from, m.to, m.epoch);
      break;
    case 'search':
      queue(() => search(m.q, m.req, m.caseSensitive));
      break;
  }
};
