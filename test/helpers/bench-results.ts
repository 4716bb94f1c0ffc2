// test/bench/results/*.json: each image test merges its own keys into the file and keeps the rest
// (boot.test.ts and uefi.test.ts share image.json; the files run one after another), then brings
// the README's tables in step (a test run must not leave them disagreeing with the JSON).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeReadmeTables } from '../../scripts/bench-tables.mjs';

export async function mergeBench(file: string, fields: Record<string, unknown>): Promise<void> {
  const previous = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ ...previous, ...fields }, null, 2) + '\n');
  writeReadmeTables(path.resolve(path.dirname(file), '../../..'));
}
