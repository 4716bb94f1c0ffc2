// The TLS bench's pieces (npm run bench:tls, test/bench/tls.run.ts): the HAProxy roots it compares,
// the one configuration all of them run, the certificates, and the parsing of the clients' output.
// Pure where it can be, so test/unit/bench-tls.test.ts checks the configuration with the image's
// own `haproxy -c` and the parsers with real client output.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';
import { DEFAULT_CACHE_DIR, imageDaemons, type DaemonRoot } from '../../builder/image/image-root.js';

/** What the table compares: the AWS-LC build, trixie's HAProxy (OpenSSL 3.5), bookworm's (OpenSSL 3.0). */
export const FLAVOURS = ['awslc', 'trixie', 'bookworm'] as const;
export type BenchFlavour = (typeof FLAVOURS)[number];

/** Frontend ports on 127.0.0.1: certificate × highest TLS version. */
export const PORTS = {
  'ecdsa-tls13': 9443,
  'rsa-tls13': 9444,
  'ecdsa-tls12': 9445,
  'rsa-tls12': 9446,
} as const;
export type Listener = keyof typeof PORTS;

interface Entry {
  dir: string;
  mtime: number;
  inputs: { image?: { id?: string }; haproxy?: string | null; distribution?: { release?: string } };
}

async function entries(cacheDir: string, stage: string): Promise<Entry[]> {
  const base = path.resolve(cacheDir, 'stages', stage);
  const out: Entry[] = [];
  for (const n of await readdir(base).catch(() => [] as string[])) {
    const dir = path.join(base, n);
    if (n.includes('.tmp-') || !existsSync(path.join(dir, '.inputs.json'))) continue;
    const { mtimeMs } = await import('node:fs/promises').then((fs) => fs.stat(path.join(dir, '.inputs.json')));
    out.push({ dir, mtime: mtimeMs, inputs: JSON.parse(await readFile(path.join(dir, '.inputs.json'), 'utf8')) as Entry['inputs'] });
  }
  return out.sort((a, b) => b.mtime - a.mtime);
}

/**
 * The root file system of each flavour from the image stage cache: the Debian 13 image tree with
 * haproxy-awslc; trixie's rootfs (the distribution's haproxy, before customize replaces it); the
 * Debian 12 image tree (or its rootfs). A rootfs tree is presented as root/ + var/ through links.
 */
export async function findRoots(work: string, cacheDir = DEFAULT_CACHE_DIR): Promise<Partial<Record<BenchFlavour, DaemonRoot>>> {
  const roots: Partial<Record<BenchFlavour, DaemonRoot>> = {};
  const customize = await entries(cacheDir, 'customize');
  const rootfs = await entries(cacheDir, 'rootfs');
  const awslc = customize.find((e) => e.inputs.image?.id === 'herr-ober-debian-13' && e.inputs.haproxy);
  if (awslc) roots.awslc = imageDaemons({ dir: awslc.dir, id: 'herr-ober-debian-13', version: 'awslc' });
  const asTree = async (name: string, tree: string): Promise<DaemonRoot> => {
    const dir = path.join(work, 'roots', name);
    await mkdir(dir, { recursive: true });
    if (!existsSync(path.join(dir, 'root'))) await symlink(tree, path.join(dir, 'root'));
    if (!existsSync(path.join(dir, 'var'))) await symlink(path.join(tree, 'var'), path.join(dir, 'var'));
    return imageDaemons({ dir, id: name, version: 'rootfs' });
  };
  const trixie = rootfs.find((e) => e.inputs.distribution?.release === 'trixie');
  if (trixie) roots.trixie = await asTree('trixie', path.join(trixie.dir, 'tree'));
  const bookwormImage = customize.find((e) => e.inputs.image?.id === 'herr-ober-debian-12');
  const bookwormRootfs = rootfs.find((e) => e.inputs.distribution?.release === 'bookworm');
  if (bookwormImage) roots.bookworm = imageDaemons({ dir: bookwormImage.dir, id: 'herr-ober-debian-12', version: 'image' });
  else if (bookwormRootfs) roots.bookworm = await asTree('bookworm', path.join(bookwormRootfs.dir, 'tree'));
  return roots;
}

/** How to get a missing root, for the error message. */
export const ROOT_HINTS: Record<BenchFlavour, string> = {
  awslc: 'npm run build-image (image/debian-13.yaml, haproxy.flavour awslc)',
  trixie: 'npm run build-image (its rootfs stage holds trixie\'s haproxy)',
  bookworm: 'npm run build-image -- image/debian-12.yaml',
};

/**
 * One configuration for every flavour: the appliance's TLS settings (templates/haproxy.cfg.hbs:
 * protocol floor, no tickets, its cipher lists), one thread, a 200 for handshake requests and a
 * backend for the bulk body. Only directives HAProxy 2.6 knows, so bookworm's runs it too.
 */
export function benchConfig(o: { dir: string; backendPort: number }): string {
  const binds = (Object.entries(PORTS) as [Listener, number][]).map(([name, port]) => {
    const [cert, version] = name.split('-') as [string, string];
    return `    bind 127.0.0.1:${port} ssl crt ${o.dir}/${cert}.pem alpn http/1.1${version === 'tls12' ? ' ssl-max-ver TLSv1.2' : ''}`;
  });
  return `# npm run bench:tls: the same frontend for every HAProxy flavour
global
    nbthread 1
    # two descriptors per connection: within the usual 20000-descriptor hard limit
    maxconn 4000
    stats socket ${o.dir}/stats.sock mode 600 level admin
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend tls
${binds.join('\n')}
    http-request return status 200 content-type text/plain string ok if { path /hs }
    default_backend bulk

backend bulk
    server body 127.0.0.1:${o.backendPort}
`;
}

/** ECDSA P-256 and RSA-2048 self-signed certificates (cert + key in one PEM, as HAProxy reads them). */
export async function makeCertificates(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, key] of [['ecdsa', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']], ['rsa', ['-newkey', 'rsa:2048']]] as const) {
    const k = path.join(dir, `${name}.key`);
    const c = path.join(dir, `${name}.crt`);
    await run(['openssl', 'req', '-x509', ...key, '-nodes', '-keyout', k, '-out', c, '-days', '30', '-subj', '/CN=bench.ober.test', '-addext', 'subjectAltName=IP:127.0.0.1']);
    await writeFile(path.join(dir, `${name}.pem`), (await readFile(c, 'utf8')) + (await readFile(k, 'utf8')));
  }
}

/** h2load's summary: requests that succeeded and failed, and its own elapsed time. */
export function parseH2load(out: string): { succeeded: number; failed: number; seconds: number } {
  const req = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  const fin = /finished in ([\d.]+)(us|ms|s),/.exec(out);
  if (!req || !fin) throw new Error(`h2load printed no summary:\n${out.slice(-600)}`);
  const scale = { us: 1e-6, ms: 1e-3, s: 1 }[fin[2] as 'us' | 'ms' | 's'];
  return { succeeded: Number(req[2]), failed: Number(req[3]), seconds: Number(fin[1]) * scale };
}

/** `openssl s_time`: connections made in how many seconds (the last such line: -reuse prints two). */
export function parseSTime(out: string): { connections: number; seconds: number } {
  const all = [...out.matchAll(/(\d+) connections in ([\d.]+)s;/g)];
  const m = all.at(-1);
  if (!m) throw new Error(`openssl s_time printed no summary:\n${out.slice(-600)}`);
  return { connections: Number(m[1]), seconds: Number(m[2]) };
}

/** HAProxy's CPU seconds so far (user + system, /proc/<pid>/stat, proc(5)). */
export async function cpuSeconds(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** median, min, max of a list (the bench-tables format). */
export function stats(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s.at(-1)!) };
}

const round = (x: number): number => (x >= 100 ? Math.round(x) : Math.round(x * 10) / 10);
