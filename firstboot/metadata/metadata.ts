// The one result every metadata source produces, and the one place it is assembled from a
// drive's files: which user, keys, host name and `ober` document a node gets is decided here,
// the same way for NoCloud, ConfigDrive2, cloud-init's cache and a local directory.
//
// Where the `ober` document travels (decided for Herr Ober): in vendor-data, as a #cloud-config
// document with one top-level key `ober:` (cicustom vendor=local:snippets/<node>-ober.yaml), so
// Proxmox's own ciuser/sshkeys/ipconfig keep working; cloud-init ignores the unknown key. An
// `ober:` key in user-data is accepted as a fallback for operators who use cicustom user=, which
// replaces the generated user-data.
import { type TextFile, type YamlMapping, isCloudConfig, isRecord, kindOf, parseYamlMapping } from './documents.js';
import { problem } from './problems.js';

export type MetadataSource = 'nocloud' | 'configdrive2' | 'cloud-init' | 'file';

export interface OberData {
  from: 'vendor-data' | 'user-data' | 'file';
  /** The file it was read from, for messages about the document. */
  file: string;
  /** The `ober` document, not yet validated (the node schema does that). */
  doc: unknown;
}

/** A network configuration as found (cloud-init applies it; the node reads only its own data). */
export type NetworkConfigDoc =
  /** NoCloud `network-config`: cloud-init network config (Proxmox writes version 1). */
  | { format: 'cloud-init'; file: string; doc: Record<string, unknown> }
  /** ConfigDrive `network_data.json` (OpenStack). */
  | { format: 'openstack'; file: string; doc: Record<string, unknown> }
  /** ConfigDrive `content/0000`: ifupdown interfaces text, what Proxmox writes for configdrive2. */
  | { format: 'eni'; file: string; text: string };

export interface NodeMetadata {
  source: MetadataSource;
  /** Where it was read: a device, image, directory or file. */
  location: string;
  instanceId: string;
  /** The host name cloud-init sets (first boot warns when it is not the ober node name). */
  hostname?: string;
  /** meta-data (NoCloud) or meta_data.json (ConfigDrive) as parsed. */
  metaData: Record<string, unknown>;
  /** Raw user data, when not empty. */
  userData?: string;
  /** Raw vendor data as cloud-init processes it (for ConfigDrive: the "cloud-init" member). */
  vendorData?: string;
  networkConfig?: NetworkConfigDoc;
  sshAuthorizedKeys?: string[];
  /** The default user's name (Proxmox `ciuser`). */
  defaultUser?: string;
  ober?: OberData;
  /** Things an operator should know that did not stop the read. */
  warnings: string[];
}

/** What a source has read from a drive, before it is interpreted. */
export interface DriveData {
  source: MetadataSource;
  location: string;
  instanceId: string;
  metaData: Record<string, unknown>;
  /** Host name from the metadata (NoCloud `local-hostname`, ConfigDrive `hostname`). */
  metaHostname?: string;
  /** Public keys from the metadata (NoCloud `public-keys`, ConfigDrive `public_keys`). */
  metaKeys?: string[];
  userData?: TextFile;
  vendorData?: TextFile;
  /** An `ober` document carried outside any #cloud-config (ConfigDrive vendor_data.json object). */
  vendorOber?: { file: string; doc: unknown };
  networkConfig?: NetworkConfigDoc;
}

export function assembleMetadata(d: DriveData): NodeMetadata {
  const warnings: string[] = [];
  const user = cloudConfig(d.userData, 'user-data', warnings);
  const vendor = cloudConfig(d.vendorData, 'vendor-data', warnings);

  const hostnames = hostNames(user, d.metaHostname);
  const defaultUser = user && userName(user);
  const keys = [...(user ? stringList(user, 'ssh_authorized_keys') : []), ...(d.metaKeys ?? [])];

  const candidates: OberData[] = [];
  if (d.vendorOber) candidates.push({ from: 'vendor-data', ...d.vendorOber });
  if (vendor) candidates.push(...oberIn(vendor, 'vendor-data'));
  if (user) candidates.push(...oberIn(user, 'user-data'));
  const [ober, ...ignored] = candidates;
  for (const o of ignored) warnings.push(`${o.file}: its ober data is ignored, ${ober!.file} takes precedence`);

  return {
    source: d.source,
    location: d.location,
    instanceId: d.instanceId,
    ...hostnames,
    metaData: d.metaData,
    ...(nonEmpty(d.userData) ? { userData: d.userData!.text } : {}),
    ...(nonEmpty(d.vendorData) ? { vendorData: d.vendorData!.text } : {}),
    ...(d.networkConfig ? { networkConfig: d.networkConfig } : {}),
    ...(keys.length ? { sshAuthorizedKeys: [...new Set(keys)] } : {}),
    ...(defaultUser ? { defaultUser } : {}),
    ...(ober ? { ober } : {}),
    warnings,
  };
}

/** The instance id: required, a non-empty single-line string (cloud-init names a directory after it). */
export function requireInstanceId(value: string | undefined, file: string, key: string, hint: string): string {
  if (value === undefined || value.trim() === '') throw problem(file, `has no ${key}`, hint, key);
  if (!/^[\x21-\x7e]{1,255}$/.test(value) || value === '.' || value === '..' || value.includes('/')) {
    throw problem(file, `${key} ${JSON.stringify(value.slice(0, 80))} is not a usable instance id (printable, no spaces or "/")`, hint, key);
  }
  return value;
}

/**
 * Public keys from metadata, in the shapes cloud-init accepts (normalize_pubkey_data): one string
 * of lines, a list, or a mapping of names to a key or a list (ConfigDrive `public_keys`).
 */
export function metadataKeys(value: unknown, file: string, key: string): string[] {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? value.split('\n') : Array.isArray(value) ? value : isRecord(value) ? Object.values(value).flat() : undefined;
  if (!items || items.some((k) => typeof k !== 'string')) {
    throw problem(file, `${key} must be a key, a list of keys or a mapping of names to keys, found ${kindOf(value)}`, undefined, key);
  }
  return (items as string[]).map((k) => k.trim()).filter((k) => k && !k.startsWith('#'));
}

type ParsedCloudConfig = YamlMapping & { file: string };

function cloudConfig(f: TextFile | undefined, what: string, warnings: string[]): ParsedCloudConfig | undefined {
  if (!nonEmpty(f)) return undefined;
  if (!isCloudConfig(f!.text)) {
    warnings.push(`${f!.file}: ${what} is not #cloud-config (it starts ${JSON.stringify(f!.text.trimStart().slice(0, 20))}); nothing was read from it`);
    return undefined;
  }
  return { ...parseYamlMapping(f!.text, f!.file), file: f!.file };
}

function oberIn(cfg: ParsedCloudConfig, from: 'vendor-data' | 'user-data'): OberData[] {
  if (!('ober' in cfg.value)) return [];
  const doc = cfg.value.ober;
  if (!isRecord(doc)) {
    throw problem(
      cfg.file,
      `ober must be a mapping ({ version: 1, node: ..., cluster: ... }), found ${kindOf(doc)}`,
      'write the snippet as "#cloud-config" followed by "ober:" and the indented document (ober render --node <name> prints it)',
      'ober',
    );
  }
  return [{ from, file: cfg.file, doc }];
}

/**
 * cloud-init's rules: user-data `hostname`/`fqdn` (cc_set_hostname) win over the metadata's host
 * name; a dotted metadata host name is split into host and domain (DataSource.get_hostname).
 */
function hostNames(user: ParsedCloudConfig | undefined, metaHostname: string | undefined): { hostname?: string } {
  const hostname = user && scalar(user, 'hostname');
  const fqdn = user && scalar(user, 'fqdn');
  const meta = metaHostname?.trim() || undefined;
  const h = hostname ?? fqdn?.split('.')[0] ?? meta?.split('.')[0];
  return h ? { hostname: h } : {};
}

/** cloud-config `user:` is a name (what Proxmox writes for ciuser) or a mapping with `name`. */
function userName(cfg: ParsedCloudConfig): string | undefined {
  const u = cfg.value.user;
  if (u === undefined || u === null) return undefined;
  if (typeof u === 'string' && u.trim()) return u.trim();
  if (isRecord(u) && typeof u.name === 'string' && u.name.trim()) return u.name.trim();
  throw problem(cfg.file, `user must be a user name or a mapping with name, found ${kindOf(u)}`, undefined, 'user');
}

function scalar(cfg: ParsedCloudConfig, key: string): string | undefined {
  const v = cfg.value[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') throw problem(cfg.file, `${key} must be a single value, found ${kindOf(v)}`, undefined, key);
  return cfg.text(key)?.trim() || undefined;
}

function stringList(cfg: ParsedCloudConfig, key: string): string[] {
  const v = cfg.value[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw problem(cfg.file, `${key} must be a list, found ${kindOf(v)}`, undefined, key);
  return v.map((item, i) => {
    if (typeof item !== 'string') throw problem(cfg.file, `must be a string, found ${kindOf(item)}`, undefined, `${key}[${i}]`);
    return item.trim();
  }).filter(Boolean);
}

function nonEmpty(f: TextFile | undefined): boolean {
  return f !== undefined && f.text.trim() !== '';
}
