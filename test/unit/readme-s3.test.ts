// The README's S3 tables are generated from the bench JSON (scripts/s3-tables.mjs); a table edited
// by hand, or JSON newer than the README, fails here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/fixtures.js';

describe('README S3 tables', () => {
  it('are what scripts/s3-tables.mjs renders from test/bench/results', async () => {
    const { renderReadme } = (await import(path.join(REPO, 'scripts/s3-tables.mjs'))) as { renderReadme: (t: string) => string };
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    expect(renderReadme(readme)).toBe(readme);
  });

  it('the check notices a hand-edited figure', async () => {
    const { renderReadme } = (await import(path.join(REPO, 'scripts/s3-tables.mjs'))) as { renderReadme: (t: string) => string };
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const edited = readme.replace(/(<!-- s3-drill:begin -->\n)/, '$1| edited by hand |\n');
    expect(renderReadme(edited)).not.toBe(edited);
  });
});
