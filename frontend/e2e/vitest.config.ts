import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The browser tests: one file at a time, in one process, with long timeouts; they
// start bin/aura, bin/aura-runner and Debian's chromium themselves.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['*.spec.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
