// browser.ts is what every browser test needs of chromium: contexts in each look
// (light or dark, phone or desktop) signed in with a token, pages whose errors and
// Content-Security-Policy violations are collected, and axe-core.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BrowserContext, Page } from 'playwright-core';
import type { World } from './harness';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Page errors and dialogs (an alert is an XSS that ran) of every page opened here.
export const errors: string[] = [];
// Content-Security-Policy violations, from securitypolicyviolation events (reported
// through a binding, which CSP does not govern) and from "Refused to …" console
// messages (which also cover the log worker).
export const violations: string[] = [];

const refused = /Refused to|Content[- ]Security[- ]Policy/i;

export interface Look {
  dark?: boolean;
  phone?: boolean;
}

export const looks: Look[] = [{}, { dark: true }, { phone: true }, { dark: true, phone: true }];

export function lookName(l: Look): string {
  return `${l.dark ? 'dark' : 'light'}-${l.phone ? 'phone' : 'desktop'}`;
}

// openContext opens a browser context in look, signed in with token (null: anonymous).
// The app runs under the server's real CSP: no bypassCSP. The init script and axe
// go through the DevTools protocol, which CSP does not govern. Each page records
// its long tasks in window.__long.
export async function openContext(w: World, look: Look = {}, token: string | null): Promise<BrowserContext> {
  const c = await w.browser.newContext({
    viewport: look.phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
    colorScheme: look.dark ? 'dark' : 'light',
  });
  await c.exposeBinding('__cspViolation', ({ page: p }, v: string) => violations.push(`${p.url()}: ${v}`));
  await c.addInitScript((token: string | null) => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __cspViolation: (v: string) => void }).__cspViolation;
      void report(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`);
    });
    // Only the app's own page: a sandboxed frame (an artifact shown inline) has no storage.
    if (token && window === window.top) localStorage.setItem('aura.token', token);
    (window as unknown as { __long: number[] }).__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) (window as unknown as { __long: number[] }).__long.push(e.duration);
    }).observe({ type: 'longtask', buffered: true });
  }, token);
  return c;
}

// openPage opens a page whose errors, dialogs and CSP refusals are recorded.
export async function openPage(c: BrowserContext): Promise<Page> {
  const p = await c.newPage();
  p.on('pageerror', (e) => errors.push(String(e)));
  p.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  p.on('console', (m) => {
    if (refused.test(m.text())) violations.push(`console on ${p.url()}: ${m.text()}`);
  });
  p.on('worker', (wk) =>
    wk.on('console', (m) => {
      if (refused.test(m.text())) violations.push(`worker ${wk.url()}: ${m.text()}`);
    }),
  );
  return p;
}

interface AxeNode {
  target: unknown[];
  any: Array<{ id: string; data?: { fgColor?: string; bgColor?: string; contrastRatio?: number; expectedContrastRatio?: string } | null }>;
}
interface AxeViolation {
  id: string;
  impact: string;
  nodes: AxeNode[];
}

export interface AxeProblem {
  rule: string;
  target: string;
  text: string;
}

// axe injects axe-core through the DevTools protocol (not a script tag, which the
// CSP refuses) and returns the serious and critical violations, one per element,
// with the colours axe measured for contrast.
export async function axe(p: Page): Promise<AxeProblem[]> {
  await p.evaluate(axeSource);
  const res = await p.evaluate(async () => {
    const a = (window as unknown as { axe: { run: (o: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await a.run({ resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => ({ target: n.target, any: n.any.map((c) => ({ id: c.id, data: c.data })) })) }));
  });
  const out: AxeProblem[] = [];
  for (const v of res) {
    if (v.impact !== 'serious' && v.impact !== 'critical') continue;
    for (const n of v.nodes) {
      const d = n.any.find((c) => c.data && typeof c.data === 'object' && 'fgColor' in c.data)?.data;
      const target = n.target.join(' ');
      out.push({ rule: v.id, target, text: `${v.id} (${v.impact}): ${target}${d ? ` (${d.fgColor} on ${d.bgColor}: ${d.contrastRatio}, wants ${d.expectedContrastRatio})` : ''}` });
    }
  }
  return out;
}
