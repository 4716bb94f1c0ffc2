// A throw-away Ceph cluster as the lab's S3 backend: 1 mon, 1 OSD (memstore), N radosgw (beast),
// built by hand inside one network namespace (no systemd, no cephadm, no mgr). The RGWs listen on
// the backend namespace's addresses; mon and OSD stay on that namespace's loopback.
//
// Every Ceph program (ceph-authtool, monmaptool, ceph-mon, ceph-osd, ceph, radosgw-admin, radosgw)
// runs through a DaemonRoot: the host's packages by default (Debian 12: Ceph 16.2), or a Debian
// root of their own by chroot (ceph-root.ts, OBER_CEPH=trixie: Ceph 18.2), the cluster's directory
// bound in at the same path.
//
// Built after shared/ceph-rgw (a hand-made reference); its measured pitfalls are cited as
// "ceph note N" (shared/ceph-rgw/NOTES.md). Every process is started through the Lab, so teardown
// stops it by PID whatever happens.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import semver from 'semver';
import { requireTools, run, type ToolRequirement } from '../../firstboot/lib/exec.js';
import { hostDaemons, type DaemonRoot } from '../image/image-root.js';
import { signal, sleep, type Lab, type LabProcess } from './netns.js';

export const CEPH_TOOLS: ToolRequirement[] = [
  { tool: 'ceph-mon', purpose: 'run the lab’s Ceph monitor (S3 backend)', debianPackage: 'ceph-mon' },
  { tool: 'ceph-osd', purpose: 'run the lab’s Ceph OSD (S3 backend)', debianPackage: 'ceph-osd' },
  { tool: 'radosgw', purpose: 'run the lab’s Ceph RGW (S3 backend)', debianPackage: 'radosgw' },
  { tool: 'radosgw-admin', purpose: 'create the lab’s S3 user', debianPackage: 'radosgw' },
  { tool: 'ceph', purpose: 'drive the lab’s Ceph cluster', debianPackage: 'ceph-common' },
  { tool: 'ceph-authtool', purpose: 'create the lab’s Ceph keys', debianPackage: 'ceph-common' },
  { tool: 'monmaptool', purpose: 'create the lab’s Ceph monitor map', debianPackage: 'ceph-common' },
];

export interface CephOptions {
  ns: string;
  dir: string;
  /** One radosgw per listener (address inside `ns`, port); `frontendOptions` replaces `rgwFrontendOptions` for that one. */
  rgw: readonly { address: string; port: number; frontendOptions?: string }[];
  /** memstore capacity; RSS is ~1.8× the stored bytes (ceph note 4: a full memstore hangs PUTs). */
  memstoreGiB?: number;
  /** Extra options of the beast frontend (`rgw_frontends`), e.g. `tcp_nodelay=1`. */
  rgwFrontendOptions?: string;
  /** Whose Ceph programs run (default: the host's); see ceph-root.ts. */
  daemons?: DaemonRoot;
  log?: (msg: string) => void;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const MON_PORT = 13300;
const REGION = 'us-east-1';
/**
 * RGW's S3 domain (rgw_dns_name): a Host of `<bucket>.s3.example.com` addresses that bucket
 * (virtual-hosted style); the domain itself and IP addresses (what the lab's clients use) stay
 * path-style. It is the examples' S3 name, because with rgw_dns_name set RGW takes any other host
 * name for a bucket (CNAME style): the BGP example's health check, `Host: s3.example.com`, got 404
 * NoSuchBucket under another domain and every server of its backend was down.
 */
export const RGW_DNS_NAME = 's3.example.com';

export class CephCluster {
  readonly rgwProcs: (LabProcess | undefined)[] = [];
  private constructor(
    private readonly lab: Lab,
    readonly opts: CephOptions,
    readonly conf: string,
    readonly credentials: S3Credentials,
    /** What `ceph --version` says, e.g. 16.2.15 or 18.2.7. */
    readonly version: string,
    /** Whose Ceph programs run (`daemons.label` names them). */
    readonly daemons: DaemonRoot,
  ) {}

  /** `http://address:port` of each radosgw. */
  get endpoints(): string[] {
    return this.opts.rgw.map((r) => `http://${r.address}:${r.port}`);
  }

  static async start(lab: Lab, opts: CephOptions): Promise<CephCluster> {
    const daemons = opts.daemons ?? hostDaemons('the host’s Ceph packages');
    // a chroot root brings its own programs (ceph-root.ts checks unshare and chroot)
    if (daemons.kind === 'host') await requireTools(CEPH_TOOLS);
    const log = opts.log ?? (() => {});
    const dir = opts.dir;
    const w = cephWrap(daemons, dir);
    const conf = path.join(dir, 'ceph.conf');
    const keyring = path.join(dir, 'keyring');
    for (const d of ['mon.a', 'osd.0', 'run', 'log', 'crash']) await mkdir(path.join(dir, d), { recursive: true });
    const fsid = randomUUID();
    await writeFile(conf, cephConf(dir, fsid, opts));
    const exec = (argv: string[], timeoutMs = 60_000) => lab.exec(opts.ns, w(argv), { timeoutMs });
    const version = parseCephVersion((await run(w(['ceph', '--version']))).stdout);

    await run(w(['ceph-authtool', '--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']));
    await run(w(['ceph-authtool', keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']));
    await run(w(['ceph-authtool', keyring, '--gen-key', '-n', 'osd.0', '--cap', 'mon', 'allow profile osd', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow profile osd']));
    await run(w(['monmaptool', '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${MON_PORT}]`, path.join(dir, 'monmap')]));
    await run(w(['ceph-mon', '-c', conf, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap'), '--keyring', keyring]));
    log(`ceph ${version} (${daemons.label}): monitor`);
    lab.spawn(opts.ns, 'ceph-mon', w(['ceph-mon', '-c', conf, '-i', 'a', '-f']), { essential: true });
    const ceph = (...args: string[]) => exec(['timeout', '20', 'ceph', '--connect-timeout', '10', '-c', conf, ...args]);
    await until(async () => (await ceph('mon', 'stat').catch(() => undefined)) !== undefined, 60_000, 'the Ceph monitor');

    const osdUuid = randomUUID();
    await ceph('osd', 'new', osdUuid, '0');
    await exec(['ceph-osd', '-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    log('OSD');
    lab.spawn(opts.ns, 'ceph-osd', w(['ceph-osd', '-c', conf, '-i', '0', '-f']), { essential: true });
    await until(async () => ((await ceph('osd', 'stat', '-f', 'json').catch(() => undefined))?.stdout ?? '').includes('"num_up_osds":1'), 90_000, 'the Ceph OSD');
    // what the OSD says it runs on: a release without memstore would fail here, not at the first PUT
    const objectstore = (JSON.parse((await ceph('osd', 'metadata', '0', '-f', 'json')).stdout) as { osd_objectstore?: string }).osd_objectstore;
    if (objectstore !== 'memstore') throw new Error(`the lab's OSD runs on ${objectstore ?? 'an unknown objectstore'}, not memstore (ceph ${version})`);
    log('OSD up (memstore)');

    for (let i = 0; i < opts.rgw.length; i++) {
      await mkdir(path.join(dir, `rgw.${i}`), { recursive: true });
      await ceph('auth', 'get-or-create', `client.rgw.${i}`, 'mon', 'allow rw', 'osd', 'allow rwx', 'mgr', 'allow rw', '-o', path.join(dir, `rgw.${i}`, 'keyring'));
    }
    // The S3 user first: radosgw-admin creates the default zone and its pools, so RGWs starting
    // together do not race to create them (ceph note 7).
    const credentials: S3Credentials = { accessKeyId: randomBytes(10).toString('hex').toUpperCase(), secretAccessKey: randomBytes(20).toString('hex'), region: REGION };
    await exec(['timeout', '90', 'radosgw-admin', '-c', conf, 'user', 'create', '--uid=test', '--display-name=Lab', `--access-key=${credentials.accessKeyId}`, `--secret-key=${credentials.secretAccessKey}`], 100_000);
    const cluster = new CephCluster(lab, opts, conf, credentials, version, daemons);
    log(`${opts.rgw.length} radosgw`);
    for (let i = 0; i < opts.rgw.length; i++) cluster.startRgw(i);
    for (let i = 0; i < opts.rgw.length; i++) await cluster.waitRgw(i);
    return cluster;
  }

  startRgw(i: number): LabProcess {
    const r = this.opts.rgw[i];
    if (!r) throw new Error(`no radosgw ${i}`);
    const dir = path.join(this.opts.dir, `rgw.${i}`);
    const options = r.frontendOptions ?? this.opts.rgwFrontendOptions;
    const frontend = `beast endpoint=${r.address}:${r.port}${options ? ` ${options}` : ''}`;
    const argv = ['radosgw', '-c', this.conf, '-n', `client.rgw.${i}`, '-k', path.join(dir, 'keyring'), '-f', '--rgw-data', dir, '--rgw-frontends', frontend];
    const p = this.lab.spawn(this.opts.ns, `rgw.${i}`, cephWrap(this.daemons, this.opts.dir)(argv));
    this.rgwProcs[i] = p;
    return p;
  }

  /** Until radosgw i answers S3 (an anonymous GET / is 200, ceph note 21). */
  async waitRgw(i: number, timeoutMs = 90_000): Promise<void> {
    const r = this.opts.rgw[i];
    if (!r) throw new Error(`no radosgw ${i}`);
    await until(
      async () => {
        const out = await this.lab.exec(this.opts.ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${r.address}:${r.port}/`], { allowFailure: true });
        return out.stdout === '200';
      },
      timeoutMs,
      `radosgw ${i} on ${r.address}:${r.port}`,
    );
  }

  /** SIGKILL radosgw i (a crashed backend); resolves when it is gone. */
  async killRgw(i: number): Promise<void> {
    const p = this.rgwProcs[i];
    if (!p?.alive()) throw new Error(`radosgw ${i} is not running`);
    signal(p.pid, 'SIGKILL');
    await p.exited;
  }

  /** Restart a killed radosgw and wait until it serves S3 again. */
  async restartRgw(i: number): Promise<void> {
    this.startRgw(i);
    await this.waitRgw(i);
  }

  /**
   * Free the data of deleted objects now. RGW leaves a deleted object's data to its garbage
   * collector, which waits rgw_gc_obj_min_wait (2 h) first: without this, a bench that writes and
   * deletes gigabytes fills the memstore, and a full memstore fails PUTs (seen: the sixth 1 GiB).
   */
  async collectGarbage(): Promise<void> {
    await this.lab.exec(this.opts.ns, cephWrap(this.daemons, this.opts.dir)(['radosgw-admin', '-c', this.conf, 'gc', 'process', '--include-all']), { timeoutMs: 120_000 });
  }

  /** The radosgw log of instance i (request lines at debug rgw 1). */
  rgwLog(i: number): Promise<string> {
    return readFile(path.join(this.opts.dir, 'log', `client.rgw.${i}.log`), 'utf8').catch(() => '');
  }
}

/** argv that runs a Ceph program with `daemons`' programs, the cluster directory `dir` bound in. */
export function cephWrap(daemons: DaemonRoot, dir: string): (argv: readonly string[]) => string[] {
  return (argv) => daemons.wrap(argv, [dir]);
}

/** `ceph version 18.2.7 (6b0e98…) reef (stable)` → `18.2.7`. */
export function parseCephVersion(out: string): string {
  const m = /^ceph version (\d+\.\d+\.\d+)/m.exec(out);
  if (!m?.[1]) throw new Error(`not a ceph --version line: ${out.trim().slice(0, 200)}`);
  return m[1];
}

/**
 * Whether RGW of this Ceph version accepts aws-chunked uploads with a trailing checksum
 * (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER), which current SDKs send for streamed
 * bodies. Older RGW answers 411 MissingContentLength. Support came with upstream Ceph PR 54856
 * (main, so 19.x on), backported to Reef by PR 58435 (merged after 18.2.4, so 18.2.5 on); Quincy
 * has no backport. Run in this lab: 16.2.15 (411) and 18.2.7 (accepted).
 */
export function rgwAcceptsChecksumTrailers(version: string): boolean {
  const v = semver.coerce(version);
  if (!v) throw new Error(`not a Ceph version: ${version}`);
  return v.major >= 19 || (v.major === 18 && semver.gte(v, '18.2.5'));
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

function cephConf(dir: string, fsid: string, opts: CephOptions): string {
  const memstoreBytes = (opts.memstoreGiB ?? 4) * 1024 ** 3;
  return `# Lab Ceph cluster (throw-away; builder/lab/ceph.ts)
[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${MON_PORT}
public addr = 127.0.0.1
# without it the OSD's cluster/heartbeat messengers bind 0.0.0.0 (ceph note 9)
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = 16800
ms bind port max = 16899
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = ${dir}/keyring
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file =
crash dir = ${dir}/crash
# the CLI waits 300 s for a dead monitor by default (ceph note 18)
client mount timeout = 30
rados mon op timeout = 60
rados osd op timeout = 60
osd pool default size = 1
osd pool default min size = 1
# 7 RGW pools x 32 PGs is close to the one-OSD limit (ceph note 8)
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# one osdmap epoch per pool change, batched every 1 s by default: 16 s first start instead of 5 (ceph note 6)
paxos propose interval = 0.1
paxos min wait = 0.01
# a SIGKILLed radosgw's watches stall bucket create/delete on the others until they expire (ceph note 10)
osd client watch timeout = 10

[mon]
mon data = ${dir}/mon.$id

[osd]
osd data = ${dir}/osd.$id
osd crush update on start = true
osd crush initial weight = 1
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}

[client]
rgw gc obj min wait = 60
rgw gc processor period = 60
rgw dynamic resharding = false
# The appliance terminates TLS and says so in X-Forwarded-Proto; RGW refuses SSE-C over plain HTTP
# unless it trusts that header (the README's RGW requirements).
rgw trust forwarded https = true
# Without it RGW reads every request as path-style, so virtual-hosted requests (the SDKs' default
# for AWS) could not be checked through the appliance.
rgw dns name = ${RGW_DNS_NAME}
`;
}
