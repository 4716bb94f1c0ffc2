// Formats that apidata.json names but does not define (they live in the server's Perl code:
// pve-common's PVE::JSONSchema, qemu-server's PVE::QemuServer). Only the ones the appliance's calls
// touch are modelled; messages are the server's.
import { isIPv4, isIPv6 } from 'node:net';
import type { PropSchema } from './schema.js';

type Check = (value: string) => string | undefined;

const regexCheck =
  (re: RegExp, message: (v: string) => string): Check =>
  (v) =>
    re.test(v) ? undefined : message(v);

const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const VOLUME_ID = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i;
const DNS_LABEL = '([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)';

/** The content types a storage can hold (PVE::Storage::Plugin valid_content_types, union). */
export const CONTENT_TYPES = ['images', 'rootdir', 'vztmpl', 'iso', 'backup', 'snippets', 'import'] as const;

const volumeId: Check = (v) => (VOLUME_ID.test(v) ? undefined : `unable to parse volume ID '${v}'`);

function cidr(v: string, isIp: (s: string) => boolean, min: number, max: number): boolean {
  const m = /^(.+)\/(\d+)$/.exec(v);
  return !!m && isIp(m[1] as string) && Number(m[2]) >= min && Number(m[2]) <= max;
}

export const namedFormats: Record<string, Check> = {
  'pve-vmid': regexCheck(/^[1-9][0-9]{2,8}$/, () => 'value does not look like a valid VM ID'),
  'pve-node': regexCheck(/^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/, () => 'value does not look like a valid node name'),
  'pve-storage-id': regexCheck(STORAGE_ID, (v) => `storage ID '${v}' contains illegal characters`),
  'pve-configid': regexCheck(/^[a-z][a-z0-9_]+$/i, (v) => `invalid configuration ID '${v}'`),
  'dns-name': regexCheck(new RegExp(`^(${DNS_LABEL}\\.)*${DNS_LABEL}$`), () => 'value does not look like a valid DNS name'),
  urlencoded: regexCheck(/^[-%a-zA-Z0-9_.!~*'()]*$/, (v) => `invalid urlencoded string: ${v}`),
  'pve-tag': regexCheck(/^[a-z0-9_][a-z0-9_\-+.]*$/i, () => 'invalid characters in tag'),
  'mac-addr': regexCheck(/^[a-f0-9]{2}(:[a-f0-9]{2}){5}$/i, () => 'value does not look like a valid unicast MAC address'),
  'pve-bridge-id': regexCheck(/^[-_.\w\d]+$/, (v) => `invalid bridge ID '${v}'`),
  'disk-size': regexCheck(/^(\d+(\.\d+)?)([KMGT])?$/, (v) => `value does not look like a valid disk size: ${v}`),
  'pve-storage-content': (v) => ((CONTENT_TYPES as readonly string[]).includes(v) ? undefined : `invalid content type '${v}'`),
  'pve-volume-id': volumeId,
  'pve-volume-id-or-qm-path': (v) => (v === 'none' || v === 'cdrom' || v.startsWith('/') ? undefined : volumeId(v)),
  'pve-volume-id-or-absolute-path': (v) => (v.startsWith('/') ? undefined : volumeId(v)),
  ipv4: (v) => (isIPv4(v) ? undefined : 'value does not look like a valid IPv4 address'),
  address: (v) => (isIPv4(v) || isIPv6(v) ? undefined : 'value does not look like a valid address'),
  ipv6: (v) => (isIPv6(v) ? undefined : 'value does not look like a valid IPv6 address'),
  CIDRv4: (v) => (cidr(v, isIPv4, 8, 32) ? undefined : 'value does not look like a valid IPv4 CIDR network'),
  CIDRv6: (v) => (cidr(v, isIPv6, 8, 128) ? undefined : 'value does not look like a valid IPv6 CIDR network'),
  'pve-ipv4-config': (v) =>
    v === 'dhcp' || v === 'manual' || cidr(v, isIPv4, 8, 32) ? undefined : 'value does not look like a valid ipv4 network configuration',
  'pve-ipv6-config': (v) =>
    ['auto', 'dhcp', 'manual'].includes(v) || cidr(v, isIPv6, 8, 128) ? undefined : 'value does not look like a valid ipv6 network configuration',
};

const opt = (schema: PropSchema): PropSchema => ({ type: 'string', optional: 1, ...schema });

/** Property-string formats the schema names but does not spell out (from their `typetext`). */
export const propertyStringFormats: Record<string, Record<string, PropSchema>> = {
  'pve-qm-watchdog': {
    model: opt({ default_key: 1, enum: ['i6300esb', 'ib700'] }),
    action: opt({ enum: ['reset', 'shutdown', 'poweroff', 'pause', 'debug', 'none'] }),
  },
  'pve-qm-ipconfig': {
    ip: opt({ format: 'pve-ipv4-config' }),
    gw: opt({ format: 'ipv4' }),
    ip6: opt({ format: 'pve-ipv6-config' }),
    gw6: opt({ format: 'ipv6' }),
  },
  'pve-vm-cpu-conf': {
    cputype: opt({ default_key: 1, pattern: '[a-zA-Z0-9_.+-]+' }),
    flags: opt({ pattern: '(?:[+-][a-zA-Z0-9_.-]+)(?:;[+-][a-zA-Z0-9_.-]+)*' }),
    hidden: opt({ type: 'boolean' }),
    'hv-vendor-id': opt({ pattern: '[a-zA-Z0-9]{1,12}' }),
    'phys-bits': opt({ pattern: '([8-9]|[1-5][0-9]|6[0-4]|host)' }),
    'guest-phys-bits': opt({ type: 'integer', minimum: 32, maximum: 64 }),
    'reported-model': opt({}),
  },
  'pve-qm-boot': {
    legacy: opt({ default_key: 1, pattern: '[acdn]{1,4}' }),
    order: opt({}),
  },
  'pve-qm-cicustom': {
    meta: opt({ format: 'pve-volume-id' }),
    network: opt({ format: 'pve-volume-id' }),
    user: opt({ format: 'pve-volume-id' }),
    vendor: opt({ format: 'pve-volume-id' }),
  },
};

/** PVE::Tools::split_list: NUL-separated if any NUL, else on `,`, `;` and whitespace. */
export function splitList(text: string): string[] {
  if (text.includes('\0')) return text.split('\0');
  return text.replace(/[,;]/g, ' ').trim().split(/\s+/).filter(Boolean);
}
