import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The built app goes where the server embeds it (backend/internal/web); `npm run
// dev` proxies the API to a running `aura serve` (AURA_URL, default :8420).
const root = fileURLToPath(new URL('.', import.meta.url));
const server = process.env.AURA_URL ?? 'http://localhost:8420';

export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../backend/internal/web/dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': { target: server, ws: true },
    },
  },
  test: {
    root,
    include: ['src/**/*.test.ts', 'tools/**/*.test.ts'],
  },
});
