// live.ts: useLive, for a page that keeps its own data (a list loaded as the user
// scrolls): it hears the events of some topics, or ticks while the stream is down.
// Data that is one answer goes through query.ts instead.
import { useEffect, useRef, useState } from 'react';
import { live, onLiveChange, subscribe, type LiveEvent } from './events';

const POLL_MS = 2000;

// useLive calls fn on every event of the topics, and every POLL_MS while the
// socket is down.
export function useLive(topics: string[], fn: (e: LiveEvent | null) => void): void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const key = topics.join('\n');
  const [isLive, setLive] = useState(live());
  useEffect(() => onLiveChange(setLive), []);
  useEffect(() => {
    if (key === '') return;
    const offs = key.split('\n').map((t) => subscribe(t, (e) => fnRef.current(e)));
    return () => offs.forEach((off) => off());
  }, [key]);
  useEffect(() => {
    if (isLive || key === '') return;
    const t = setInterval(() => fnRef.current(null), POLL_MS);
    return () => clearInterval(t);
  }, [isLive, key]);
}
