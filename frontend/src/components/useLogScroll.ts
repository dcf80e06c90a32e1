// useLogScroll is the log box's scrolling: which rows are on screen (plus some
// either side), and whether the box follows the tail, which it does while
// scrolled to the bottom.
import { useCallback, useLayoutEffect, useRef, useState } from 'react';

export const ROW_H = 18;
const OVERSCAN = 40;

export function useLogScroll(rows: number) {
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [follow, setFollow] = useState(true);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Follow the tail while at the bottom.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [rows, follow]);

  const onScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const bottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_H * 2;
    atBottom.current = bottom;
    setFollow(bottom);
  }, []);

  // toRow puts row a third down the box and stops following.
  const toRow = useCallback((row: number) => {
    const el = box.current;
    if (!el) return;
    atBottom.current = false;
    setFollow(false);
    el.scrollTop = Math.max(0, row * ROW_H - el.clientHeight / 3);
    setScrollTop(el.scrollTop);
  }, []);

  const toBottom = useCallback(() => {
    const el = box.current;
    if (!el) return;
    atBottom.current = true;
    setFollow(true);
    el.scrollTop = el.scrollHeight;
  }, []);

  // prepended keeps the same lines on screen when n rows went in front of them.
  const prepended = useCallback((n: number) => {
    if (n > 0 && box.current && !atBottom.current) box.current.scrollTop += n * ROW_H;
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(rows, Math.ceil((scrollTop + height) / ROW_H) + OVERSCAN);
  return { box, follow, first, last, onScroll, toRow, toBottom, prepended };
}
