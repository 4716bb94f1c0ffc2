// The TLS bench's configuration is accepted by the real HAProxy (the image's when a tree exists,
// else the host's, which is bookworm's 2.6: the oldest the bench runs), its certificates load, and
// its parsers read what the real clients print. The bench itself (npm run bench:tls) is not run here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { benchConfig, makeCertificates, parseH2load, parseSTime, PORTS, stats } from '../bench/tls-harness.js';
import { tlsTable } from '../../scripts/bench-tables.mjs';
import { scratchDir } from '../helpers/fixtures.js';

let work: { dir: string; cleanup: () => Promise<void> };
let daemons: DaemonRoot;

beforeAll(async () => {
  work = await scratchDir('bench-tls');
  await makeCertificates(work.dir);
  daemons = await resolveDaemons();
}, 60_000);
afterAll(async () => work?.cleanup());

describe('bench:tls pieces', () => {
  it('haproxy -c accepts the bench configuration with both certificates, and the host HAProxy 2.6 too', async () => {
    const cfg = path.join(work.dir, 'haproxy.cfg');
    await import('node:fs/promises').then((fs) => fs.writeFile(cfg, benchConfig({ dir: work.dir, backendPort: 1 })));
    for (const root of [daemons, ...(daemons.kind === 'image' ? [{ ...daemons, kind: 'host' as const, label: 'host', wrap: (a: readonly string[]) => [...a] }] : [])]) {
      const r = await run(root.wrap(['haproxy', '-c', '-f', cfg], [work.dir]), { allowFailure: true });
      expect(r.exitCode, `${root.label}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    expect(await readFile(cfg, 'utf8')).toMatch(new RegExp(`bind 127\\.0\\.0\\.1:${PORTS['rsa-tls12']} ssl crt \\S+/rsa\\.pem alpn http/1\\.1 ssl-max-ver TLSv1\\.2`));
  });

  it("reads h2load's summary (real output: a refused port)", async () => {
    const r = await run(['h2load', '--h1', '-n', '2', '-c', '2', 'https://127.0.0.1:1/hs'], { allowFailure: true });
    expect(parseH2load(r.stdout)).toMatchObject({ succeeded: 0, failed: 2 });
    // h2load picks the unit of "finished in" by magnitude: us, ms or s
    expect(parseH2load('finished in 686us, 0.00 req/s, 0B/s\nrequests: 2 total, 2 started, 2 done, 2 succeeded, 0 failed').seconds).toBeCloseTo(686e-6);
    expect(parseH2load('finished in 1.50s, 0.00 req/s, 0B/s\nrequests: 2 total, 2 started, 2 done, 2 succeeded, 0 failed').seconds).toBe(1.5);
  });

  it("reads openssl s_time's last summary", () => {
    const out = '\n\n120 connections in 0.50s; 240.00 connections/user sec, bytes read 0\n120 connections in 5 real seconds, 0 bytes read per connection\n\n\nNow timing with session id reuse.\n900 connections in 0.30s; 3000.00 connections/user sec, bytes read 0\n';
    expect(parseSTime(out)).toEqual({ connections: 900, seconds: 0.3 });
  });

  it('tabulates medians and ratios against the OpenSSL flavours', () => {
    const f = (rate: number, cpu: number) => ({ perSecond: stats([rate, rate * 0.9, rate * 1.1]), cpuMicros: stats([cpu]) });
    const table = tlsTable({
      rounds: 3,
      versions: { awslc: { haproxy: '3.0.11', haproxySsl: 'AWS-LC 5.1.0' }, trixie: { haproxy: '3.0.11-1+deb13u5', haproxySsl: 'OpenSSL 3.5.9' }, bookworm: { haproxy: '2.6.12-1+deb12u4', haproxySsl: 'OpenSSL 3.0.22' } },
      summary: [{ test: 'full ecdsa-tls13', unit: 'handshakes/s', cpuUnit: 'µs/handshake', flavours: { awslc: f(2000, 400), trixie: f(1000, 800), bookworm: f(1600, 500) } }],
    });
    expect(table).toContain('AWS-LC build: haproxy 3.0.11 on AWS-LC 5.1.0');
    expect(table).toMatch(/\| full ecdsa-tls13 \| 2000 \(1800–2200\) handshakes\/s, 400 µs\/handshake \| .* \| ×2\.00 rate, ×0\.50 CPU \| ×1\.25 rate, ×0\.80 CPU \|$/m);
  });
});
