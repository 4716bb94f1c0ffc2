// Shared setup of the Proxmox tests: a self-signed certificate for 127.0.0.1, a double serving it,
// and a client pinned to it with retry and poll timings scaled down to milliseconds.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { run } from '../../firstboot/lib/exec.js';
import { tlsConnector } from '../../builder/proxmox/tls.js';
import { connect, type ClientOptions, type ProxmoxClient } from '../../builder/proxmox/client.js';
import { parseToken } from '../../builder/proxmox/auth.js';
import type { ConnectionSettings } from '../../builder/proxmox/connection.js';
import { PveDouble, type PveDoubleOptions } from './double/server.js';

export interface TestCert {
  key: string;
  cert: string;
  certFile: string;
  fingerprint: string;
}

export async function makeCert(dir: string, cn = 'pve-double'): Promise<TestCert> {
  const keyFile = path.join(dir, `${cn}.key`);
  const certFile = path.join(dir, `${cn}.pem`);
  await run([
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  const cert = await readFile(certFile, 'utf8');
  return { key: await readFile(keyFile, 'utf8'), cert, certFile, fingerprint: new X509Certificate(cert).fingerprint256 };
}

export const FAST: ClientOptions = {
  retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
  tasks: { pollMs: 5, timeoutMs: 5_000 },
};

export interface Env {
  dir: string;
  cert: TestCert;
  pve: PveDouble;
  settings: ConnectionSettings;
  client: ProxmoxClient;
  /** For raw requests the client would never send (chunked bodies, missing headers), same trust. */
  dispatcher: Agent;
  close(): Promise<void>;
}

/** A TLS double and a client pinned to its certificate's fingerprint. */
export async function setup(opts: PveDoubleOptions = {}, clientOpts: ClientOptions = FAST): Promise<Env> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ober-pve-'));
  const cert = await makeCert(dir);
  const pve = await PveDouble.start({ ...opts, tls: { key: cert.key, cert: cert.cert } });
  const credentials = parseToken(pve.token);
  if (!credentials) throw new Error('double token does not parse');
  const settings: ConnectionSettings = { baseUrl: pve.url, credentials, trust: { kind: 'fingerprint', sha256: cert.fingerprint.replace(/:/g, '').toLowerCase() } };
  const client = await connect(settings, clientOpts);
  const dispatcher = new Agent({ connect: await tlsConnector(settings.trust) });
  return {
    dir,
    cert,
    pve,
    settings,
    client,
    dispatcher,
    async close() {
      await client.close();
      await dispatcher.close();
      await pve.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A small stand-in for an image: the double stores bytes, not disks. */
export async function fakeImage(dir: string, name = 'debian-12_0.1.0.qcow2', size = 300_000): Promise<string> {
  const file = path.join(dir, name);
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31) % 251;
  await writeFile(file, data);
  return file;
}
