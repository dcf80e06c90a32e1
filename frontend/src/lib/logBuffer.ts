// logBuffer holds a job's log as bytes and appends chunks by byte offset: the same
// rule the server applies to runners, so a client that resumes after a reconnect
// loses no byte and doubles none.

// LogState is an immutable view: `bytes` may be longer than `length` (spare room to
// grow in place) and is shared between states, but never written below `length`.
export interface LogState {
  readonly length: number;
  readonly bytes: Uint8Array;
}

export interface Chunk {
  offset: number;
  bytes: Uint8Array;
}

export type ChunkResult =
  | { ok: true; state: LogState; added: number }
  | { ok: false; gap: { have: number; offset: number } };

export const emptyLog: LogState = { length: 0, bytes: new Uint8Array(0) };

// applyChunk appends the part of chunk past state.length. A chunk that ends at or
// before it changes nothing (added 0); one that starts past it is a gap and is
// refused, so the caller fetches from state.length instead.
export function applyChunk(state: LogState, chunk: Chunk): ChunkResult {
  const end = chunk.offset + chunk.bytes.length;
  if (chunk.offset > state.length) return { ok: false, gap: { have: state.length, offset: chunk.offset } };
  if (end <= state.length) return { ok: true, state, added: 0 };
  const fresh = chunk.bytes.subarray(state.length - chunk.offset);
  let bytes = state.bytes;
  if (bytes.length < end) {
    bytes = new Uint8Array(Math.max(end, Math.ceil(bytes.length * 1.5), 64 * 1024));
    bytes.set(state.bytes.subarray(0, state.length));
  }
  bytes.set(fresh, state.length);
  return { ok: true, state: { length: end, bytes }, added: fresh.length };
}

// prependBytes puts earlier bytes of the log in front of state (they end where
// state begins); the result starts at the earlier part's start.
export function prependBytes(earlier: Uint8Array, state: LogState): LogState {
  const bytes = new Uint8Array(earlier.length + state.length + 64 * 1024);
  bytes.set(earlier);
  bytes.set(state.bytes.subarray(0, state.length), earlier.length);
  return { length: earlier.length + state.length, bytes };
}

const NL = 0x0a;

// LineIndex lists where each line starts: line i is bytes [starts[i], starts[i+1]-1)
// (without its newline); the last line runs to the end and may be incomplete.
export interface LineIndex {
  starts: Uint32Array;
  count: number;
}

// indexLines extends idx (or builds it) over bytes[from:length): only bytes past
// the last indexed line start are scanned again.
export function indexLines(state: LogState, idx?: LineIndex): LineIndex {
  let starts = idx?.starts ?? new Uint32Array(1024);
  let count = idx?.count ?? 0;
  if (count === 0) {
    if (state.length === 0) return { starts, count: 0 };
    starts[0] = 0;
    count = 1;
  }
  let pos = starts[count - 1]!;
  const b = state.bytes;
  for (;;) {
    const nl = b.indexOf(NL, pos);
    if (nl < 0 || nl >= state.length) break;
    pos = nl + 1;
    if (pos >= state.length) break; // a trailing newline starts no line yet
    if (count === starts.length) {
      const grown = new Uint32Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
    }
    starts[count++] = pos;
  }
  return { starts, count };
}

// lineBytes returns the bytes of line i without its newline.
export function lineBytes(state: LogState, idx: LineIndex, i: number): Uint8Array {
  const start = idx.starts[i]!;
  let end = i + 1 < idx.count ? idx.starts[i + 1]! - 1 : state.length;
  if (i + 1 >= idx.count && end > start && state.bytes[end - 1] === NL) end--;
  return state.bytes.subarray(start, end);
}

// lineAt returns the line holding byte offset `off` (binary search).
export function lineAt(idx: LineIndex, off: number): number {
  let lo = 0;
  let hi = idx.count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (idx.starts[mid]! <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
