// Certificate hot reload against a real HAProxy on loopback: a new certificate is served after a
// graceful reload while a download in flight completes; broken PEMs (no key, key mismatch,
// garbage) are refused, moved aside, and the previous certificate stays in service even across a
// reload for another reason.
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import { certDirs, recordGood, reloadCertificates, type CertReloadDeps } from '../../firstboot/ops/certs.js';
import { systemProbes } from '../../firstboot/ops/probes.js';
import { directControl } from '../../firstboot/ops/services.js';
import { tlsDownload } from '../helpers/clients.js';
import { scratchDir } from '../helpers/fixtures.js';
import { freePorts, renderedHaproxyConfig, slowBackend, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';

let layout: Layout;
let haproxy: TestHaproxy;
let backend: Awaited<ReturnType<typeof slowBackend>>;
let httpsPort: number;
let cleanup: () => Promise<void>;
let work: string;
const pem: Record<'old' | 'new' | 'mismatch' | 'noKey' | 'garbage', string> = { old: '', new: '', mismatch: '', noKey: '', garbage: '' };

async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const key = path.join(work, `${cn}.key`);
  const cert = path.join(work, `${cn}.crt`);
  await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-days', '30', '-keyout', key, '-out', cert]);
  return { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
}

/** Subject CN of the certificate HAProxy serves for SNI s3.test. */
async function served(): Promise<string> {
  const r = await run(['openssl', 's_client', '-connect', `127.0.0.1:${httpsPort}`, '-servername', 's3.test'], { input: '', allowFailure: true, timeoutMs: 5000 });
  return /subject=.*CN\s*=\s*([\w.-]+)/.exec(r.stdout)?.[1] ?? `none: ${r.stderr.slice(-200)}`;
}

async function eventually(fn: () => Promise<string>, want: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 50 && (last = await fn()) !== want; i++) await new Promise((r) => setTimeout(r, 100));
  return last;
}

const deps = (): CertReloadDeps => ({
  check: () => systemProbes.run(['haproxy', '-c', '-q', '-f', layout.haproxyCfg]),
  reload: () => directControl(layout).reload('http'),
  now: () => new Date('2026-11-21T12:00:00Z'),
});
const certFile = () => path.join(layout.haproxyCertDir, 's3.pem');

beforeAll(async () => {
  const s = await scratchDir('certs-reload');
  cleanup = s.cleanup;
  layout = nodeLayout(path.join(s.dir, 'root'));
  work = path.join(s.dir, 'work');
  await mkdir(work, { recursive: true });
  const a = await selfSigned('old.s3.test');
  const b = await selfSigned('new.s3.test');
  pem.old = a.cert + a.key;
  pem.new = b.cert + b.key;
  pem.mismatch = a.cert + b.key;
  pem.noKey = b.cert;
  pem.garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' + b.key;
  await mkdir(layout.haproxyCertDir, { recursive: true });
  await writeFile(certFile(), pem.old, { mode: 0o600 });
  backend = await slowBackend();
  const [httpPort, tlsPort] = (await freePorts(2)) as [number, number];
  httpsPort = tlsPort;
  haproxy = await startHaproxy(layout, await renderedHaproxyConfig(layout, { httpPort, httpsPort, backendPort: backend.port }));
  // The state at boot: what HAProxy started with is the last good set.
  await recordGood(certDirs(layout));
});

afterAll(async () => {
  await haproxy?.stop();
  await backend?.close();
  await cleanup?.();
});

describe('ober certs reload with a running HAProxy', () => {
  it('serves a swapped certificate after a graceful reload; a download in flight completes', async () => {
    expect(await served()).toBe('old.s3.test');
    const dl = tlsDownload(httpsPort, 's3.test', '/slow');
    await dl.started;
    await writeFile(certFile(), pem.new, { mode: 0o600 });
    const r = await reloadCertificates(certDirs(layout), deps());
    expect(r).toMatchObject({ reloaded: true, changed: ['s3.pem'], rejected: [] });
    expect(await eventually(served, 'new.s3.test')).toBe('new.s3.test');
    expect(await dl.done).toBe(30 * 1024);
  });

  it('nothing changed: no reload', async () => {
    const r = await reloadCertificates(certDirs(layout), { ...deps(), reload: () => Promise.reject(new Error('must not reload')) });
    expect(r).toMatchObject({ reloaded: false, changed: [], rejected: [] });
  });

  for (const kind of ['mismatch', 'noKey', 'garbage'] as const) {
    it(`refuses a broken PEM (${kind}): moved aside, last good copy back, old certificate still served`, async () => {
      await writeFile(certFile(), pem[kind], { mode: 0o600 });
      const r = await reloadCertificates(certDirs(layout), { ...deps(), reload: () => Promise.reject(new Error('must not reload')) });
      expect(r.reloaded).toBe(false);
      expect(r.rejected).toHaveLength(1);
      expect(r.rejected[0]).toMatchObject({ name: 's3.pem', restored: true });
      expect(r.rejected[0]?.problem).toMatch(kind === 'mismatch' ? /does not belong/ : kind === 'noKey' ? /exactly one private key/ : /cannot be parsed/);
      expect(await readFile(certFile(), 'utf8')).toBe(pem.new);
      expect(await readFile(r.rejected[0]?.movedTo ?? '', 'utf8')).toBe(pem[kind]);
      // A reload for another reason picks up only good files.
      await directControl(layout).reload('http');
      await new Promise((res) => setTimeout(res, 300));
      expect(await served()).toBe('new.s3.test');
    });
  }

  it('keeps every refused file for the operator', async () => {
    expect((await readdir(certDirs(layout).rejected)).length).toBeGreaterThanOrEqual(1);
  });
});
