// events.ts keeps one websocket per tab to GET /api/v1/events (the protocol is
// components/schemas/Event and EventClientMessage in openapi.yaml). Pages subscribe
// to topics (`job:42`, `log:42`, `entity:proj/commit/abc`, `queue`, `runners`, …);
// subscribe returns its unsubscribe function. The socket reconnects with jittered
// backoff and subscribes again; a log subscriber resubscribes from the byte offset
// it holds, and every subscriber hears `subscribed` (or `resync`) and refetches.
//
// Until the socket is up (or when the server has no event stream), `live()` is
// false and pages poll instead; see useLive.
import { token, type Schemas } from './client';

export type LiveEvent = Schemas['Event'];
type ClientMessage = Schemas['EventClientMessage'];

// AUTH_LOST is the window event sent when the server closed the socket, as it
// does when the caller's session or token stopped.
export const AUTH_LOST = 'aura-auth-lost';

export type EventFunc = (e: LiveEvent) => void;

interface Sub {
  fn: EventFunc;
  offset?: () => number;
}

const subs = new Map<string, Set<Sub>>();
const stateFuncs = new Set<(live: boolean) => void>();
let ws: WebSocket | null = null;
let open = false;
let attempt = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

// live says whether events arrive now.
export function live(): boolean {
  return open;
}

// onLiveChange calls fn whenever the socket opens or closes; it returns the unsubscribe.
export function onLiveChange(fn: (live: boolean) => void): () => void {
  stateFuncs.add(fn);
  return () => stateFuncs.delete(fn);
}

function setOpen(v: boolean) {
  if (open === v) return;
  open = v;
  for (const f of stateFuncs) f(v);
}

function send(msg: ClientMessage) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function subscribeMsg(topic: string, set: Set<Sub>) {
  const msg: ClientMessage = { op: 'subscribe', topic };
  for (const s of set) if (s.offset) msg.offset = s.offset();
  send(msg);
}

function connect() {
  timer = undefined;
  if (typeof WebSocket === 'undefined') return;
  const url = new URL('/api/v1/events', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  ws = socket;
  socket.onopen = () => {
    attempt = 0;
    // Browsers cannot set headers on a websocket: the token goes first.
    const t = token();
    if (t) send({ op: 'auth', token: t });
    for (const [topic, set] of subs) subscribeMsg(topic, set);
  };
  socket.onmessage = (m) => {
    let e: LiveEvent;
    try {
      e = JSON.parse(String(m.data)) as LiveEvent;
    } catch {
      return;
    }
    setOpen(true);
    switch (e.type) {
      case 'resync':
        deliverAll(e);
        break;
      case 'subscribed':
        deliver(e.topic, e);
        break;
      case 'error':
        if (e.topic) deliver(e.topic, e);
        break;
      default:
        for (const t of e.topics) deliver(t, e);
    }
  };
  socket.onclose = (ev) => {
    if (ws !== socket) return;
    // 4001: the session or token was revoked (or its user disabled). Any close
    // but a slow reader's (4008) may be that: me.ts asks the server who we are now.
    if (ev.code !== 4008) window.dispatchEvent(new Event(AUTH_LOST));
    ws = null;
    setOpen(false);
    attempt++;
    const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
    timer = setTimeout(connect, base / 2 + Math.random() * base);
  };
}

function deliver(topic: string, e: LiveEvent) {
  for (const s of subs.get(topic) ?? []) s.fn(e);
}

function deliverAll(e: LiveEvent) {
  for (const set of subs.values()) for (const s of set) s.fn(e);
}

// subscribe listens to topic; offset (for log topics) gives the byte offset to
// resume from whenever the socket (re)subscribes.
export function subscribe(topic: string, fn: EventFunc, offset?: () => number): () => void {
  let set = subs.get(topic);
  const first = !set;
  if (!set) {
    set = new Set();
    subs.set(topic, set);
  }
  const sub: Sub = offset ? { fn, offset } : { fn };
  set.add(sub);
  if (!ws && timer === undefined) connect();
  else if (first) subscribeMsg(topic, set);
  return () => {
    set.delete(sub);
    if (set.size === 0) {
      subs.delete(topic);
      send({ op: 'unsubscribe', topic });
    }
  };
}

// reconnect drops the socket and opens a new one, e.g. after the token changed.
export function reconnect(): void {
  clearTimeout(timer);
  timer = undefined;
  const old = ws;
  ws = null;
  setOpen(false);
  old?.close();
  if (subs.size > 0) connect();
}
