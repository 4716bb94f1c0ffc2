// Connection settings from flags and environment: every problem reported at once, by name.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { resolveConnection } from '../../builder/proxmox/connection.js';

const TOKEN = 'ober@pve!deploy=0b5d7a43-6b2a-4a57-9c69-1d1d6bb2c7b1';
const FP = 'AB:'.repeat(31) + 'AB';

function issues(flags: Parameters<typeof resolveConnection>[0], env: NodeJS.ProcessEnv): string[] {
  try {
    resolveConnection(flags, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('resolveConnection', () => {
  it('reads URL, token and fingerprint; flags win over the environment', () => {
    const s = resolveConnection({ proxmoxUrl: 'https://pve2:8006/api2/json/' }, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_TOKEN: TOKEN, PROXMOX_FINGERPRINT: FP });
    expect(s).toEqual({
      baseUrl: 'https://pve2:8006',
      credentials: { kind: 'token', tokenId: 'ober@pve!deploy', secret: '0b5d7a43-6b2a-4a57-9c69-1d1d6bb2c7b1' },
      trust: { kind: 'fingerprint', sha256: 'ab'.repeat(32) },
    });
  });

  it('uses a CA file, or the system CAs when nothing is pinned', () => {
    expect(resolveConnection({ proxmoxCaFile: '/etc/ober/pve-ca.pem' }, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_TOKEN: TOKEN }).trust).toEqual({ kind: 'ca-file', path: '/etc/ober/pve-ca.pem' });
    expect(resolveConnection({}, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_TOKEN: TOKEN }).trust).toEqual({ kind: 'system' });
  });

  it('takes user and password for ticket login', () => {
    const s = resolveConnection({}, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_USER: 'root@pam', PROXMOX_PASSWORD: 'pw' });
    expect(s.credentials).toEqual({ kind: 'password', username: 'root@pam', password: 'pw' });
  });

  it('lists every problem at once', () => {
    expect(issues({}, {})).toEqual(['PROXMOX_URL: not set', 'PROXMOX_TOKEN: not set']);
    expect(issues({}, { PROXMOX_URL: 'http://pve1:8006', PROXMOX_TOKEN: 'ober@pve=secret', PROXMOX_FINGERPRINT: FP, PROXMOX_CA_FILE: '/x' })).toEqual([
      "PROXMOX_URL: 'http://pve1:8006' must use https:// (plain http only to a loopback address, e.g. an SSH tunnel)",
      'PROXMOX_TOKEN: expected user@realm!tokenid=secret (the secret is the UUID shown once at creation)',
      'PROXMOX_FINGERPRINT: both a fingerprint and a CA file are given',
    ]);
    expect(issues({}, { PROXMOX_URL: 'http://127.0.0.1:8006', PROXMOX_TOKEN: TOKEN, PROXMOX_FINGERPRINT: FP })).toEqual(['PROXMOX_URL: a certificate pin needs an https:// URL']);
    expect(issues({}, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_TOKEN: TOKEN, PROXMOX_USER: 'root@pam' })).toEqual(['PROXMOX_TOKEN: both PROXMOX_TOKEN and PROXMOX_USER are set']);
    expect(issues({}, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_USER: 'root' })).toEqual(["PROXMOX_USER: 'root' must be user@realm, e.g. root@pam", 'PROXMOX_PASSWORD: not set (needed with PROXMOX_USER)']);
    expect(issues({}, { PROXMOX_URL: 'https://pve1:8006', PROXMOX_TOKEN: TOKEN, PROXMOX_FINGERPRINT: 'AB:CD' })).toEqual([
      'PROXMOX_FINGERPRINT: expected a SHA-256 fingerprint (32 hex bytes, e.g. from pvenode cert info)',
    ]);
  });
});
