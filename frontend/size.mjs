// size.mjs prints the gzipped size of the JavaScript the job page loads (the entry
// chunk, the job page chunk and the log worker) and fails above the 150 KB budget.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 150 * 1024;
const dir = join(import.meta.dirname, '../backend/internal/web/dist/assets');
const files = readdirSync(dir).filter((f) => /^(index|Job|logWorker)-.*\.js$/.test(f));
let total = 0;
for (const f of files) {
  const gz = gzipSync(readFileSync(join(dir, f)), { level: 9 }).length;
  total += gz;
  console.log(`  ${f}: ${(gz / 1024).toFixed(1)} KB gzipped`);
}
console.log(`job page JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (files.length === 0 || total > BUDGET) process.exit(1);
