import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The browser benchmark (scripts/bench-live): bench-live.ts only, never part of
// scripts/test or the e2e run (whose include is *.spec.ts). Node 20 has WebSocket
// behind a flag, for the benchmark's raw websocket viewers.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['bench-*.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    execArgv: ['--experimental-websocket'],
    disableConsoleIntercept: true,
  },
});
