// Stage `haproxy` (flavour awslc): HAProxy linked against AWS-LC, built from the pinned source
// archives in a throw-away Debian build root of the image's own release (mmdebstrap
// --variant=buildd plus the build dependencies, so the binary links against the image's libc),
// and packaged as a .deb that replaces the distribution's haproxy. Cached by the checksums of the
// sources, the recipe and the build root's release: an overlay change never recompiles.
// Output: <out>/<package>_<version>_<arch>.deb, <out>/build.json, <out>/haproxy-vv.txt.
import { availableParallelism } from 'node:os';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../../firstboot/lib/exec.js';
import { InternalError } from '../../../firstboot/lib/errors.js';
import { HAPROXY_USER } from '../../../firstboot/model/defaults.js';
import { canonicalJson, type Json } from '../canonical.js';
import type { DebianDistribution, ImageDefinition } from '../definition.js';
import { fetchSource, resolveSources, type ResolvedSource, type SourceStore } from '../sources.js';
import type { Stage, StageLog } from '../stage.js';
import { hashFile } from '../tree.js';
import { aptProgressTap, debianBootstrapArgv } from './rootfs.js';

/** Bump when the recipe below changes what it produces. */
const REVISION = 2; // 2: the package makes its haproxy user (sysusers.d + postinst)

/** The .deb's name; it Provides, Conflicts with and Replaces `haproxy`. */
export const AWSLC_PACKAGE = 'haproxy-awslc';

/** Installed into the build root beside build-essential (mmdebstrap --variant=buildd). */
export const BUILD_DEPENDENCIES = ['cmake', 'libpcre2-dev', 'liblua5.4-dev', 'zlib1g-dev'];

/**
 * AWS-LC as static libraries. The Debian crate source drops AWS-LC's tool/ directories
 * (BUILD_TOOL=OFF); without Go and Perl AWS-LC builds from its pre-generated sources.
 */
export const AWSLC_CMAKE_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DCMAKE_INSTALL_LIBDIR=lib',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DBUILD_TESTING=OFF',
  '-DBUILD_TOOL=OFF',
  '-DDISABLE_GO=ON',
  '-DDISABLE_PERL=ON',
];

/** HAProxy's build options (its Makefile's USE_* switches). */
export const HAPROXY_MAKE_FLAGS = [
  'TARGET=linux-glibc',
  'USE_OPENSSL_AWSLC=1',
  'USE_QUIC=1',
  'USE_PROMEX=1',
  'USE_PCRE2=1',
  'USE_PCRE2_JIT=1',
  'USE_LUA=1',
  'USE_SYSTEMD=1',
  'USE_ZLIB=1',
];

/** `3.0.11-1+awslc5.1.0`: HAProxy's version, the recipe's revision, and AWS-LC's. */
export function awslcPackageVersion(haproxy: string, awslc: string): string {
  return `${haproxy}-${REVISION}+awslc${awslc}`;
}

/** What the stage records about its build (build.json); the manifest and the SBOM read it. */
export interface HaproxyBuildInfo {
  package: { name: string; version: string; architecture: string; file: string; sha256: string; depends: string };
  haproxy: { version: string; ssl: string };
  sources: { name: string; version: string; file: string; url: string; sha256: string }[];
  seconds: { bootstrap: number; awslc: number; haproxy: number; package: number };
}

export interface HaproxyStageInputs {
  def: ImageDefinition;
  sources: SourceStore;
  /** The release's .deb cache, shared with the rootfs stage. */
  packageCache: string;
  sourceDateEpoch: number;
}

export function haproxyStage(h: HaproxyStageInputs): Stage {
  const dist = h.def.distribution;
  if (dist.family !== 'debian') throw new InternalError('the haproxy stage builds for Debian only (the definition schema refuses awslc elsewhere)');
  const sources = resolveSources(h.def);
  const haproxySrc = sourceNamed(sources, 'haproxy');
  const awslcSrc = sourceNamed(sources, 'awslc');
  const version = awslcPackageVersion(haproxySrc.version, awslcSrc.version);
  const bootstrap = (out: string): string[] => buildRootArgv(dist, path.join(out, 'buildroot'), h.packageCache);
  return {
    name: 'haproxy',
    inputs: {
      revision: REVISION,
      // the build root: its release and mirrors decide the compiler and the libc linked against
      release: dist.release,
      mirrors: dist.mirrors,
      buildDependencies: BUILD_DEPENDENCIES,
      // a source is what its checksum says; where it was fetched from does not change the build
      sources: sources.map((s) => ({ name: s.name, version: s.version, sha256: s.sha256, tree: s.tree })) as unknown as Json,
      cmake: AWSLC_CMAKE_FLAGS,
      make: HAPROXY_MAKE_FLAGS,
      package: { name: AWSLC_PACKAGE, version },
      sourceDateEpoch: h.sourceDateEpoch,
    },
    commands: [
      ...sources.map((s) => ['fetch', s.url, `sha256=${s.sha256}`]),
      bootstrap('<out>'),
      ['cmake', '-S', `/build/awslc-src/${awslcSrc.tree}`, '-B', '/build/awslc-build', ...AWSLC_CMAKE_FLAGS, '-DCMAKE_INSTALL_PREFIX=/build/awslc'],
      ['make', '-C', `/build/haproxy-src/${haproxySrc.tree}`, ...HAPROXY_MAKE_FLAGS, 'SSL_INC=/build/awslc/include', 'SSL_LIB=/build/awslc/lib', '...'],
      ['dpkg-shlibdeps', '-O', '-e', '/build/pkg/usr/sbin/haproxy'],
      ['dpkg-deb', '--root-owner-group', '--build', '/build/pkg', `/build/${AWSLC_PACKAGE}_${version}_amd64.deb`],
    ],
    async run(out, log) {
      const seconds = { bootstrap: 0, awslc: 0, haproxy: 0, package: 0 };
      const files: Record<string, string> = {};
      for (const s of sources) files[s.name] = await fetchSource(s, h.sources, log);

      const root = path.join(out, 'buildroot');
      let t = performance.now();
      await run(bootstrap(out), { env: { ...process.env, SOURCE_DATE_EPOCH: String(h.sourceDateEpoch), LC_ALL: 'C.UTF-8' }, onLine: aptProgressTap(log) });
      seconds.bootstrap = elapsed(t);

      await mkdir(path.join(root, 'build/src'), { recursive: true });
      for (const s of sources) await copyFile(files[s.name]!, path.join(root, 'build/src', s.file));
      const inRoot = (script: string, onLine: (l: string) => void) => buildRootRun(root, script, h.sourceDateEpoch, onLine);

      t = performance.now();
      await inRoot(awslcScript(awslcSrc), cmakeProgress('aws-lc', log));
      seconds.awslc = elapsed(t);

      t = performance.now();
      await inRoot(haproxyScript(haproxySrc, awslcSrc), makeProgress('haproxy', log));
      seconds.haproxy = elapsed(t);

      t = performance.now();
      const control = controlFields(haproxySrc, awslcSrc, version);
      await writeFile(path.join(root, 'build/control.in'), control);
      await inRoot(packageScript(version), (l) => log.info(`package: ${l}`, { transient: true }));
      seconds.package = elapsed(t);

      const debName = `${AWSLC_PACKAGE}_${version}_amd64.deb`;
      await copyFile(path.join(root, 'build', debName), path.join(out, debName));
      const vv = await readFile(path.join(root, 'build/haproxy-vv.txt'), 'utf8');
      await writeFile(path.join(out, 'haproxy-vv.txt'), vv);
      const depends = (await readFile(path.join(root, 'build/depends.txt'), 'utf8')).trim();
      const info: HaproxyBuildInfo = {
        package: { name: AWSLC_PACKAGE, version, architecture: 'amd64', file: debName, sha256: await hashFile(path.join(out, debName)), depends },
        haproxy: parseVv(vv),
        sources: sources.map((s) => ({ name: s.name, version: s.version, file: s.file, url: s.url, sha256: s.sha256 })),
        seconds,
      };
      if (!/AWS-LC/.test(info.haproxy.ssl)) throw new InternalError(`the built haproxy runs on '${info.haproxy.ssl}', not AWS-LC (haproxy -vv in ${out}/haproxy-vv.txt)`);
      await writeFile(path.join(out, 'build.json'), canonicalJson(info, 2) + '\n');
      log.info(`${debName}: haproxy ${info.haproxy.version} on ${info.haproxy.ssl}; bootstrap ${seconds.bootstrap} s, aws-lc ${seconds.awslc} s, haproxy ${seconds.haproxy} s`);
      // the build root is thrown away: only the package and what is said about it stay cached
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function readHaproxyBuildInfo(stageDir: string): Promise<HaproxyBuildInfo> {
  return JSON.parse(await readFile(path.join(stageDir, 'build.json'), 'utf8')) as HaproxyBuildInfo;
}

/** The .deb in a haproxy stage entry. */
export async function haproxyPackageFile(stageDir: string): Promise<string> {
  const debs = (await readdir(stageDir)).filter((f) => f.endsWith('.deb'));
  if (debs.length !== 1) throw new InternalError(`${stageDir}: expected one .deb, found ${debs.length}`);
  return path.join(stageDir, debs[0]!);
}

function sourceNamed(sources: readonly ResolvedSource[], name: string): ResolvedSource {
  const s = sources.find((x) => x.name === name);
  if (!s) throw new InternalError(`haproxy.sources.${name} missing (the definition schema requires it for flavour awslc)`);
  return s;
}

// Not the image's path excludes: those drop Perl's modules, which dpkg-shlibdeps needs.
const BUILD_ROOT_EXCLUDES = [{ exclude: '/usr/share/doc/*' }, { exclude: '/usr/share/man/*' }];

function buildRootArgv(dist: DebianDistribution, tree: string, debCache: string): string[] {
  return debianBootstrapArgv({ variant: 'buildd', dist, packages: BUILD_DEPENDENCIES, pathExcludes: BUILD_ROOT_EXCLUDES, tree, debCache });
}

// Runs a script in the build root with /proc, /dev and a fresh /tmp mounted in a private mount
// namespace: the mounts vanish with the process, so removing the build root never reaches /dev.
const ENTER = String.raw`
set -eu
root=$1
shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmp "$root/tmp"
exec chroot "$root" "$@"
`;

async function buildRootRun(root: string, script: string, sourceDateEpoch: number, onLine: (l: string) => void): Promise<void> {
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LC_ALL=C.UTF-8', `SOURCE_DATE_EPOCH=${sourceDateEpoch}`, `JOBS=${availableParallelism()}`];
  await run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', ENTER, 'ober-build-root', root, 'env', '-i', ...env, 'sh', '-c', script], { onLine });
}

function awslcScript(src: ResolvedSource): string {
  return String.raw`
set -eu
mkdir -p /build/awslc-src && tar -xf /build/src/${src.file} -C /build/awslc-src
cmake -S /build/awslc-src/${src.tree} -B /build/awslc-build ${AWSLC_CMAKE_FLAGS.join(' ')} -DCMAKE_INSTALL_PREFIX=/build/awslc
cmake --build /build/awslc-build --parallel "$JOBS"
cmake --install /build/awslc-build
`;
}

function haproxyScript(src: ResolvedSource, awslc: ResolvedSource): string {
  // Debian's hardening flags (dpkg-buildflags) as Debian's own haproxy package uses them; AWS-LC's
  // static libcrypto has C++ parts, hence libstdc++ (linked only if needed).
  return String.raw`
set -eu
mkdir -p /build/haproxy-src && tar -xf /build/src/${src.file} -C /build/haproxy-src
cd /build/haproxy-src/${src.tree}
make -j"$JOBS" ${HAPROXY_MAKE_FLAGS.join(' ')} SSL_INC=/build/awslc/include SSL_LIB=/build/awslc/lib \
  OPT_CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
  LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" ADDLIB="-Wl,--as-needed -lstdc++ -Wl,--no-as-needed"
./haproxy -vv > /build/haproxy-vv.txt
mkdir -p /build/pkg/usr/sbin /build/pkg/usr/lib/systemd/system /build/pkg/usr/share/doc/${AWSLC_PACKAGE}
install -m 0755 -s haproxy /build/pkg/usr/sbin/haproxy
# upstream's unit, so the image's services.disable (haproxy.service) finds what it disables
sed 's|@SBINDIR@|/usr/sbin|g' admin/systemd/haproxy.service.in > /build/pkg/usr/lib/systemd/system/haproxy.service
# the workers' user (haproxy.cfg: user/group ${HAPROXY_USER}), made by systemd-sysusers as the
# package is configured: Debian's haproxy, purged for this one, takes its user with it
mkdir -p /build/pkg/usr/lib/sysusers.d /build/pkg/DEBIAN
echo 'u ${HAPROXY_USER} - "HAProxy workers" /var/lib/haproxy /usr/sbin/nologin' > /build/pkg/usr/lib/sysusers.d/${AWSLC_PACKAGE}.conf
printf '#!/bin/sh
set -e
if [ "$1" = configure ]; then systemd-sysusers ${AWSLC_PACKAGE}.conf; fi
' > /build/pkg/DEBIAN/postinst
chmod 0755 /build/pkg/DEBIAN/postinst
{ echo "HAProxy ${src.version}:"; echo; cat LICENSE; echo; echo "AWS-LC ${awslc.version} (linked statically):"; echo; cat /build/awslc-src/${awslc.tree}/LICENSE; } > /build/pkg/usr/share/doc/${AWSLC_PACKAGE}/copyright
`;
}

function packageScript(version: string): string {
  // dpkg-shlibdeps wants a debian/control naming the package; it prints shlibs:Depends=...
  return String.raw`
set -eu
mkdir -p /build/shlibs/debian /build/pkg/DEBIAN
printf 'Source: ${AWSLC_PACKAGE}\n\nPackage: ${AWSLC_PACKAGE}\nArchitecture: any\n' > /build/shlibs/debian/control
cd /build/shlibs
depends=$(dpkg-shlibdeps -O -e /build/pkg/usr/sbin/haproxy | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }
echo "$depends" > /build/depends.txt
size=$(du -sk --exclude=DEBIAN /build/pkg | cut -f1)
{ cat /build/control.in; echo "Installed-Size: $size"; echo "Depends: $depends"; } > /build/pkg/DEBIAN/control
find /build/pkg -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build /build/pkg /build/${AWSLC_PACKAGE}_${version}_amd64.deb
`;
}

function controlFields(haproxy: ResolvedSource, awslc: ResolvedSource, version: string): string {
  return [
    `Package: ${AWSLC_PACKAGE}`,
    `Version: ${version}`,
    'Architecture: amd64',
    'Maintainer: Herr Ober image build <root@localhost>',
    'Section: net',
    'Priority: optional',
    'Homepage: https://www.haproxy.org/',
    // versioned: a package that depends on haproxy (>= x) is satisfied by this one
    `Provides: haproxy (= ${haproxy.version})`,
    'Conflicts: haproxy',
    'Replaces: haproxy',
    `Description: HAProxy ${haproxy.version} linked statically against AWS-LC ${awslc.version}`,
    ` Built by the Herr Ober image pipeline from ${haproxy.file} (sha256 ${haproxy.sha256})`,
    ` and ${awslc.file} (sha256 ${awslc.sha256}), AWS-LC from ${awslc.tree}.`,
    ` Options: ${HAPROXY_MAKE_FLAGS.join(' ')}.`,
    '',
  ].join('\n');
}

/** HAProxy's version and the SSL library it runs on, from `haproxy -vv`. */
export function parseVv(vv: string): { version: string; ssl: string } {
  const version = /^HA-?Proxy version (\S+)/m.exec(vv)?.[1];
  const ssl = /^Running on (?:SSL library|OpenSSL version) ?: ?(.+?)\s*$/m.exec(vv)?.[1];
  if (!version || !ssl) throw new InternalError(`haproxy -vv did not report its version and SSL library:\n${vv.slice(0, 400)}`);
  return { version, ssl };
}

const elapsed = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;

/** cmake --build's `[ 45%] Building C object ...` lines as one progress figure. */
function cmakeProgress(label: string, log: StageLog): (line: string) => void {
  return (line) => {
    const m = /^\[\s*(\d+)%\]\s+(.*)$/.exec(line.trim());
    if (m) log.info(`${label}: ${m[1]}% ${m[2]!.replace(/^Building \S+ object /, '')}`, { transient: true });
    else if (/^-- (Configuring done|Generating done|Installing)/.test(line)) log.info(`${label}: ${line.trim().slice(3)}`, { transient: true });
  };
}

/** HAProxy's quiet make output (`  CC      src/foo.o`) counted. */
function makeProgress(label: string, log: StageLog): (line: string) => void {
  let compiled = 0;
  return (line) => {
    const m = /^\s*(CC|LD)\s+(\S+)/.exec(line);
    if (m) log.info(`${label}: ${m[1] === 'LD' ? 'linking' : `compiled ${++compiled}`} ${m[2]}`, { transient: true });
  };
}
