// The README's figures are the bench results': every table between bench markers must be exactly
// what scripts/bench-tables.mjs makes from test/bench/results/*.json.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchTables, fillReadme, REPO } from '../../scripts/bench-tables.mjs';
import { wrkMilliseconds } from '../bench/s3-harness.js';

describe('README bench tables', () => {
  it('match test/bench/results/*.json (fix: node scripts/bench-tables.mjs)', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const tables = benchTables();
    const { text, problems } = fillReadme(readme, tables);
    expect(problems).toEqual([]);
    expect(text).toBe(readme);
    // Every table the results give is shown somewhere.
    for (const name of Object.keys(tables)) expect(readme).toContain(`<!-- bench:${name} -->`);
  });

  it('a figure edited by hand is found', () => {
    const tables = { t: '| a |\n|---|\n| 151 |' };
    const readme = 'x\n<!-- bench:t -->\n| a |\n|---|\n| 199 |\n<!-- /bench:t -->\n';
    expect(fillReadme(readme, tables).text).not.toBe(readme);
    expect(fillReadme('<!-- bench:nope -->\n<!-- /bench:nope -->', tables).problems[0]).toMatch(/names no table/);
  });

  it('the S3 table shows the host rows for every target, direct included, without a ratio', () => {
    const row = (benchTables().s3 ?? '').split('\n').find((l: string) => l.startsWith('| host CPU s per GiB PUT'));
    expect(row).toMatch(/^\| host CPU s per GiB PUT, all processes( \| \d+\.\d\d){5} \|$/);
  });

  it('the image-BGP drill row carries the JSON figure', () => {
    expect(benchTables()['image-bgp']).toMatch(/\| haproxy-sigkill \| \d+ \|/);
  });
});

describe('wrk latencies', () => {
  it('become milliseconds, whatever unit wrk printed', () => {
    expect([wrkMilliseconds('812.00us'), wrkMilliseconds('44.01ms'), wrkMilliseconds('1.20s'), wrkMilliseconds('2.00m')]).toEqual([0.812, 44.01, 1200, 120_000]);
    expect(wrkMilliseconds('n/a')).toBeUndefined();
  });
});
