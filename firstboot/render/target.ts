// What the rendered files run on: the distribution family and where its programs live.
export interface Target {
  family: 'debian' | 'rhel';
  /** HAProxy major.minor of the image's flavour; decides which features may be rendered. */
  haproxyVersion: [number, number];
  bin: { haproxy: string; exabgp: string; bird: string; keepalived: string; kill: string };
}

export const DEBIAN_12: Target = {
  family: 'debian',
  haproxyVersion: [2, 6],
  bin: { haproxy: '/usr/sbin/haproxy', exabgp: '/usr/sbin/exabgp', bird: '/usr/sbin/bird', keepalived: '/usr/sbin/keepalived', kill: '/bin/kill' },
};

export const RHEL_10: Target = {
  family: 'rhel',
  haproxyVersion: [3, 0],
  bin: { haproxy: '/usr/sbin/haproxy', exabgp: '/usr/bin/exabgp', bird: '/usr/sbin/bird', keepalived: '/usr/sbin/keepalived', kill: '/usr/bin/kill' },
};
