// Where to reach Proxmox and how to trust and authenticate to it, from flags and environment —
// one place for every command that talks to Proxmox (template, deploy, rollout).
//   PROXMOX_URL          https://pve1.example.net:8006   (--proxmox-url)
//   PROXMOX_TOKEN        user@realm!tokenid=secret       (environment only: argv is visible in ps)
//   PROXMOX_USER/PROXMOX_PASSWORD  ticket login instead of a token
//   PROXMOX_FINGERPRINT  SHA-256 of the server certificate (--proxmox-fingerprint)
//   PROXMOX_CA_FILE      PEM CA that signed it (--proxmox-ca-file); neither: the system CAs
import type { Command } from 'commander';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import { parseToken, type Credentials } from './auth.js';
import { normalizeFingerprint, type TlsTrust } from './tls.js';

export interface ConnectionFlags {
  proxmoxUrl?: string;
  proxmoxFingerprint?: string;
  proxmoxCaFile?: string;
}

export interface ConnectionSettings {
  baseUrl: string;
  credentials: Credentials;
  trust: TlsTrust;
}

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--proxmox-url <url>', 'Proxmox API URL, e.g. https://pve1:8006 (env PROXMOX_URL)')
    .option('--proxmox-fingerprint <sha256>', 'pin the server certificate by SHA-256 fingerprint (env PROXMOX_FINGERPRINT)')
    .option('--proxmox-ca-file <pem>', 'trust only this CA for the server certificate (env PROXMOX_CA_FILE)');
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const issues: ConfigIssue[] = [];
  const baseUrl = parseBaseUrl(flags.proxmoxUrl ?? env.PROXMOX_URL, issues);
  const credentials = parseCredentials(env, issues);
  const trust = parseTrust(flags.proxmoxFingerprint ?? env.PROXMOX_FINGERPRINT, flags.proxmoxCaFile ?? env.PROXMOX_CA_FILE, issues);
  if (baseUrl?.startsWith('http:') && trust.kind !== 'system') {
    issues.push({ path: 'PROXMOX_URL', message: 'a certificate pin needs an https:// URL' });
  }
  if (issues.length || !baseUrl || !credentials) throw new ConfigError('Proxmox connection', issues);
  return { baseUrl, credentials, trust };
}

function parseBaseUrl(text: string | undefined, issues: ConfigIssue[]): string | undefined {
  if (!text) {
    issues.push({ path: 'PROXMOX_URL', message: 'not set', hint: 'export PROXMOX_URL=https://<node>:8006 or pass --proxmox-url' });
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    issues.push({ path: 'PROXMOX_URL', message: `'${text}' is not a URL` });
    return undefined;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    issues.push({ path: 'PROXMOX_URL', message: `'${text}' must use https:// (plain http only to a loopback address, e.g. an SSH tunnel)` });
    return undefined;
  }
  // Accept the URL as copied from the browser or from API docs (`.../api2/json`).
  return `${url.origin}${url.pathname.replace(/\/(api2\/json)?\/?$/, '')}`;
}

function parseCredentials(env: NodeJS.ProcessEnv, issues: ConfigIssue[]): Credentials | undefined {
  const token = env.PROXMOX_TOKEN;
  const user = env.PROXMOX_USER;
  if (token && user) {
    issues.push({ path: 'PROXMOX_TOKEN', message: 'both PROXMOX_TOKEN and PROXMOX_USER are set', hint: 'unset one of them' });
    return undefined;
  }
  if (token) {
    const parsed = parseToken(token);
    if (!parsed) issues.push({ path: 'PROXMOX_TOKEN', message: 'expected user@realm!tokenid=secret (the secret is the UUID shown once at creation)' });
    return parsed;
  }
  if (user) {
    if (!/^[^@\s]+@[^@\s]+$/.test(user)) issues.push({ path: 'PROXMOX_USER', message: `'${user}' must be user@realm, e.g. root@pam` });
    if (!env.PROXMOX_PASSWORD) issues.push({ path: 'PROXMOX_PASSWORD', message: 'not set (needed with PROXMOX_USER)' });
    return { kind: 'password', username: user, password: env.PROXMOX_PASSWORD ?? '' };
  }
  issues.push({
    path: 'PROXMOX_TOKEN',
    message: 'not set',
    hint: "create one with: pveum user token add <user@realm> <tokenid>, then export PROXMOX_TOKEN='<user@realm>!<tokenid>=<secret>'",
  });
  return undefined;
}

function parseTrust(fingerprint: string | undefined, caFile: string | undefined, issues: ConfigIssue[]): TlsTrust {
  if (fingerprint && caFile) {
    issues.push({ path: 'PROXMOX_FINGERPRINT', message: 'both a fingerprint and a CA file are given', hint: 'use one of them' });
    return { kind: 'system' };
  }
  if (fingerprint) {
    const sha256 = normalizeFingerprint(fingerprint);
    if (!sha256) {
      issues.push({ path: 'PROXMOX_FINGERPRINT', message: 'expected a SHA-256 fingerprint (32 hex bytes, e.g. from pvenode cert info)' });
      return { kind: 'system' };
    }
    return { kind: 'fingerprint', sha256 };
  }
  if (caFile) return { kind: 'ca-file', path: caFile };
  return { kind: 'system' };
}
