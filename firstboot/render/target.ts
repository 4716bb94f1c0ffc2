// What the rendered files run on: the distribution family, where its programs live, and the
// HAProxy version the image ships (version-dependent features are rendered only where supported).
export interface Target {
  family: 'debian' | 'rhel';
  /** HAProxy major.minor of the image; decides which features may be rendered. */
  haproxyVersion: [number, number];
  bin: { haproxy: string; exabgp: string; bird: string; keepalived: string; kill: string; ss: string };
}

const DEBIAN_BIN: Target['bin'] = { haproxy: '/usr/sbin/haproxy', exabgp: '/usr/sbin/exabgp', bird: '/usr/sbin/bird', keepalived: '/usr/sbin/keepalived', kill: '/bin/kill', ss: '/usr/bin/ss' };

/** Debian 13, the default image: HAProxy 3.0 (the AWS-LC build or trixie's package). */
export const DEBIAN_13: Target = { family: 'debian', haproxyVersion: [3, 0], bin: DEBIAN_BIN };

/** Debian 12, the alternative image: bookworm's HAProxy 2.6. */
export const DEBIAN_12: Target = { family: 'debian', haproxyVersion: [2, 6], bin: DEBIAN_BIN };

export const RHEL_10: Target = {
  family: 'rhel',
  haproxyVersion: [3, 0],
  bin: { haproxy: '/usr/sbin/haproxy', exabgp: '/usr/bin/exabgp', bird: '/usr/sbin/bird', keepalived: '/usr/sbin/keepalived', kill: '/usr/bin/kill', ss: '/usr/sbin/ss' },
};

/**
 * major.minor from what HAProxy or a manifest says of its version: `haproxy -v`'s first line
 * ("HAProxy version 3.0.11-9e587df 2025/06/02 …"), a manifest's `versions.haproxy`
 * ("2.6.12-1+deb12u4"), or a plain "3.0".
 */
export function parseHaproxyVersion(text: string): [number, number] | undefined {
  const m = /(?:^|version\s+)(\d{1,2})\.(\d{1,2})(?:[.\-+~\s]|$)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The target with the HAProxy version an image actually ships. */
export function withHaproxyVersion(target: Target, version: [number, number]): Target {
  return { ...target, haproxyVersion: version };
}

/** a ≥ b for major.minor pairs. */
export function atLeast(a: [number, number], b: [number, number]): boolean {
  return a[0] !== b[0] ? a[0] > b[0] : a[1] >= b[1];
}
