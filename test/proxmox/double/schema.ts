// The Proxmox API schema (shared/pve-api/apidata.json) as a request validator. It mirrors
// PVE::JSONSchema's check_prop/check_object/parse_property_string: same checks, same order, same
// messages, so a request the real server would refuse with 400 is refused here too.
// The schema is read from outside the repository at test time: it must never ship in the product.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { namedFormats, propertyStringFormats, splitList } from './formats.js';

export interface PropSchema {
  type?: string;
  optional?: number;
  format?: string | Record<string, PropSchema>;
  pattern?: string;
  enum?: string[];
  minimum?: number | string;
  maximum?: number | string;
  maxLength?: number;
  minLength?: number;
  default_key?: number;
  alias?: string;
  keyAlias?: string;
  requires?: string;
}

export interface Permissions {
  user?: string;
  check?: unknown[];
}

export interface MethodSchema {
  method: string;
  name: string;
  allowtoken?: number;
  protected?: number;
  permissions?: Permissions;
  parameters?: { additionalProperties?: number; properties?: Record<string, PropSchema> };
}

type ApiData = Record<string, Record<string, MethodSchema>>;

export type RouteMatch =
  | { ok: true; template: string; schema: MethodSchema; pathParams: Record<string, string> }
  | { ok: false; status: 404 | 501; message: string };

/** `param -> message`, the `errors` object of Proxmox's 400 answer. */
export type ParamErrors = Record<string, string>;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/**
 * The shared contract next to the repository when it is there (the source of truth), else the
 * copy in test/fixtures (a clean clone elsewhere, e.g. CI); test data only, never shipped.
 */
export const APIDATA_PATH = [path.resolve(REPO_ROOT, '../shared/pve-api/apidata.json'), path.resolve(REPO_ROOT, 'test/fixtures/pve-api/apidata.json')].find((p) => existsSync(p)) ?? path.resolve(REPO_ROOT, 'test/fixtures/pve-api/apidata.json');

/**
 * How many instances an indexed key (`net[n]`) has; the schema collapses them. Values from
 * qemu-server (MAX_NETS, MAX_SCSI_DISKS, ...); an unlisted family is not bounded here.
 */
const INDEXED_KEY_COUNT: Record<string, number> = {
  net: 32,
  ipconfig: 32,
  scsi: 31,
  virtio: 16,
  sata: 6,
  ide: 4,
  serial: 4,
  parallel: 3,
  usb: 14,
  hostpci: 16,
  numa: 8,
  unused: 256,
  virtiofs: 10,
};

interface Route {
  template: string;
  segments: string[];
  methods: Record<string, MethodSchema>;
}

export class ApiSchema {
  private readonly routes: Route[];

  constructor(data: ApiData) {
    this.routes = Object.entries(data).map(([template, methods]) => ({
      template,
      segments: template.split('/').filter(Boolean),
      methods,
    }));
  }

  static load(file = APIDATA_PATH): ApiSchema {
    return new ApiSchema(JSON.parse(readFileSync(file, 'utf8')) as ApiData);
  }

  /** Match a request path (below /api2/json) to its schema entry; literal segments win over `{param}`. */
  match(method: string, requestPath: string): RouteMatch {
    const parts = requestPath.split('/').filter(Boolean).map(decodeURIComponent);
    let best: { route: Route; params: Record<string, string>; literals: number } | undefined;
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let literals = 0;
      const fits = route.segments.every((seg, i) => {
        const part = parts[i] as string;
        const m = /^\{(.+)\}$/.exec(seg);
        if (m) {
          params[m[1] as string] = part;
          return true;
        }
        literals++;
        return seg === part;
      });
      if (fits && (!best || literals > best.literals)) best = { route, params, literals };
    }
    if (!best) return { ok: false, status: 404, message: `Method '${method} /${parts.join('/')}' not implemented` };
    const schema = best.route.methods[method];
    if (!schema) return { ok: false, status: 501, message: `Method '${method} /${parts.join('/')}' not implemented` };
    return { ok: true, template: best.route.template, schema, pathParams: best.params };
  }

  /** Validate all parameters (path parameters included, as Proxmox does); empty result = valid. */
  validate(schema: MethodSchema, params: Record<string, string>): ParamErrors {
    const errors: ParamErrors = {};
    const props = schema.parameters?.properties ?? {};
    const additional = schema.parameters?.additionalProperties === 1;
    for (const [name, prop] of Object.entries(props)) {
      if (name.endsWith('[n]')) continue; // indexed families are checked per instance below
      checkProp(params[name], prop, name, errors);
    }
    for (const [name, value] of Object.entries(params)) {
      const prop = props[name] ?? indexedProp(props, name);
      if (!prop) {
        if (!additional) addError(errors, name, 'property is not defined in schema and the schema does not allow additional properties');
        continue;
      }
      if (!props[name]) checkProp(value, prop, name, errors);
      if (prop.requires && params[prop.requires] === undefined) {
        addError(errors, prop.requires, `missing property - '${name}' requires this property`);
      }
    }
    return errors;
  }
}

function indexedProp(props: Record<string, PropSchema>, name: string): PropSchema | undefined {
  const m = /^([a-z]+)(\d+)$/.exec(name);
  if (!m) return undefined;
  const [, family, index] = m as unknown as [string, string, string];
  const prop = props[`${family}[n]`];
  if (!prop) return undefined;
  const count = INDEXED_KEY_COUNT[family];
  if (count !== undefined && Number(index) >= count) return undefined;
  if (String(Number(index)) !== index) return undefined; // net01 is not net1
  return prop;
}

function addError(errors: ParamErrors, key: string, msg: string): void {
  errors[key] = errors[key] ? `${errors[key]}\n${msg}` : msg;
}

const IS_INTEGER = /^[+-]?\d+$/;
const IS_NUMBER = /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/;

/** PVE::JSONSchema::check_prop for one scalar value (API parameters are always strings on the wire). */
export function checkProp(value: string | undefined, schema: PropSchema, key: string, errors: ParamErrors): void {
  if (value === undefined) {
    if (!schema.optional && !schema.alias) addError(errors, key, 'property is missing and it is not optional');
    return;
  }
  const type = schema.type;
  if (
    (type === 'boolean' && value !== '0' && value !== '1') ||
    (type === 'integer' && !IS_INTEGER.test(value)) ||
    (type === 'number' && !IS_NUMBER.test(value))
  ) {
    addError(errors, key, `type check ('${type}') failed - got '${value}'`);
    return;
  }
  if (schema.format !== undefined) {
    const problem = checkFormat(schema.format, value);
    if (problem) {
      addError(errors, key, `invalid format - ${problem}`);
      return;
    }
  }
  if (schema.pattern !== undefined && !perlRegex(schema.pattern).test(value)) {
    addError(errors, key, 'value does not match the regex pattern');
    return;
  }
  if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    addError(errors, key, `value may only be ${schema.maxLength} characters long`);
    return;
  }
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    addError(errors, key, `value must be at least ${schema.minLength} characters long`);
    return;
  }
  if (IS_NUMBER.test(value)) {
    if (schema.maximum !== undefined && Number(value) > Number(schema.maximum)) {
      addError(errors, key, `value must have a maximum value of ${schema.maximum}`);
      return;
    }
    if (schema.minimum !== undefined && Number(value) < Number(schema.minimum)) {
      addError(errors, key, `value must have a minimum value of ${schema.minimum}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) {
    addError(errors, key, `value '${value}' does not have a value in the enumeration '${schema.enum.join(', ')}'`);
  }
}

/** PVE::JSONSchema::check_format: an error message, or undefined when the value fits. */
function checkFormat(format: string | Record<string, PropSchema>, value: string): string | undefined {
  if (typeof format !== 'string') return checkPropertyString(format, value);
  const list = /^(.*)-a?list$/.exec(format);
  if (list) {
    for (const item of splitList(value)) {
      const problem = checkFormat(list[1] as string, item);
      if (problem) return problem;
    }
    return undefined;
  }
  const opt = /^(.*)-opt$/.exec(format);
  if (opt) return value === '' ? undefined : checkFormat(opt[1] as string, value);
  const described = propertyStringFormats[format];
  if (described) return checkPropertyString(described, value);
  // Formats that exist only in the server's Perl code and are not modelled here are accepted:
  // the test double can only be as strict as what it knows.
  return namedFormats[format]?.(value);
}

/** PVE::JSONSchema::parse_property_string + check_object: `key=value,...` with a default key. */
export function checkPropertyString(format: Record<string, PropSchema>, data: string): string | undefined {
  const parsed = parsePropertyString(format, data);
  if (typeof parsed === 'string') return parsed;
  const errors: ParamErrors = {};
  for (const [k, schema] of Object.entries(format)) {
    if (schema.alias) continue;
    checkProp(parsed[k], schema, k, errors);
  }
  // Unknown keys were already refused while parsing; what is left is `requires`.
  for (const k of Object.keys(parsed)) {
    const requires = format[k]?.requires;
    if (requires && parsed[requires] === undefined) addError(errors, requires, `missing property - '${k}' requires this property`);
  }
  const entries = Object.entries(errors);
  return entries.length ? `format error\n${entries.map(([k, m]) => `${k}: ${m}`).join('\n')}` : undefined;
}

/** Parse `key=value,...` the way the server does; a string result is the parse error. */
export function parsePropertyString(format: Record<string, PropSchema>, data: string): Record<string, string> | string {
  const res: Record<string, string> = {};
  let defaultKeyUsed = false;
  for (const part of data.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/s.exec(part);
    if (kv) {
      let k = kv[1] as string;
      let v = kv[2] as string;
      if (res[k] !== undefined) return `duplicate key in comma-separated list property: ${k}`;
      let schema = format[k];
      if (schema?.alias) {
        if (schema.keyAlias) {
          if (res[schema.keyAlias] !== undefined) return `key alias '${schema.keyAlias}' is already defined`;
          res[schema.keyAlias] = k;
        }
        k = schema.alias;
        schema = format[k];
      }
      if (!schema) return `invalid key in comma-separated list property: ${k}`;
      if (schema.type === 'boolean') v = parseBoolean(v) ?? v;
      res[k] = v;
    } else if (!part.includes('=')) {
      const key = Object.keys(format).find((k) => format[k]?.default_key);
      if (!key) return 'value without key, but schema does not define a default key';
      if (defaultKeyUsed || res[key] !== undefined) return `duplicate key in comma-separated list property: ${key}`;
      defaultKeyUsed = true;
      res[key] = part;
    } else {
      return 'missing key in comma-separated list property';
    }
  }
  return res;
}

function parseBoolean(v: string): string | undefined {
  if (/^(1|on|yes|true)$/i.test(v)) return '1';
  if (/^(0|off|no|false)$/i.test(v)) return '0';
  return undefined;
}

const regexCache = new Map<string, RegExp>();

/**
 * Compile a schema pattern the way the server applies it (`m/^$pattern$/`). The schema carries
 * Perl regex syntax: `(?^:…)` groups, `(?^i:…)` case-insensitive groups, `(?>…)` atomic groups
 * and `{,n}` quantifiers. JavaScript in Node 20 has neither inline flags nor atomic groups: a
 * pattern with an `(?^i:` group is matched case-insensitively as a whole, and atomic groups match
 * as plain groups (both slightly more permissive than the server).
 */
export function perlRegex(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (!re) {
    const insensitive = pattern.includes('(?^i:');
    const js = pattern.replace(/\(\?(\^i?:|>)/g, '(?:').replace(/\{,(\d+)\}/g, '{0,$1}');
    re = new RegExp(`^(?:${js})$`, insensitive ? 'i' : '');
    regexCache.set(pattern, re);
  }
  return re;
}
