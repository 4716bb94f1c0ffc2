// Reading a cluster file or a node's data: YAML → schema → rules, collecting every issue with
// its path (and YAML line where there is one). Throws ConfigError; returns warnings on success.
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { yamlShapeProblem } from '../lib/yaml-limits.js';
import { checkCluster, type Origin, type RuleOptions } from './rules.js';
import { clusterSchema, nodeDataSchema, type Cluster, type NodeData } from './schema.js';

export interface Loaded<T> {
  value: T;
  warnings: ConfigIssue[];
}

type PathKey = string | number;
type LineOf = (path: readonly PathKey[]) => number | undefined;

/** Largest document accepted: cluster files are a few KB; certificates inline make node data bigger. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

export interface ParsedYaml {
  data: unknown;
  lineOf: LineOf;
}

export function parseYaml(text: string, source: string): ParsedYaml {
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) {
    throw new ConfigError(source, [{ path: '', message: `larger than ${MAX_DOCUMENT_BYTES} bytes`, hint: 'a cluster file is a few KB; is this the right file?' }]);
  }
  const shape = yamlShapeProblem(text);
  if (shape) throw new ConfigError(source, [{ path: '', message: `YAML: ${shape}`, hint: 'a cluster file nests about six levels deep; is this the right file?' }]);
  const lc = new LineCounter();
  // uniqueKeys: a key given twice is an error, not "last one wins"; maxAliasCount (toJS) stops alias bombs.
  // prettyErrors off keeps messages one line; the position comes from the line counter instead
  // (with prettyErrors off the parser never fills `linePos`).
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { path: `line ${pos.line}, column ${pos.col}`, message: `YAML syntax: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(source, [{ path: '', message: `YAML: ${(e as Error).message}` }]);
  }
  const lineOf: LineOf = (path) => {
    for (let p = [...path]; p.length > 0; p = p.slice(0, -1)) {
      const node = doc.getIn(p, true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { data, lineOf };
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

function zodIssues(error: z.ZodError, lineOf: LineOf | undefined, prefix: readonly PathKey[]): ConfigIssue[] {
  const full = (p: readonly PathKey[]) => formatPath([...prefix, ...p]);
  return error.issues.map((iss) => {
    const rel = iss.path.filter((k): k is PathKey => typeof k === 'string' || typeof k === 'number');
    let path = [...rel];
    let message = iss.message;
    let hint: string | undefined;
    if (iss.code === 'unrecognized_keys') {
      // Name the unknown key itself, so the path points at the line to fix.
      path = [...rel, iss.keys[0] ?? ''];
      message = `unknown field${iss.keys.length > 1 ? `s ${iss.keys.join(', ')}` : ''}`;
      hint = 'check the spelling against examples/ (field names are camelCase)';
    } else if (iss.code === 'invalid_type' && iss.input === undefined) {
      message = 'is required';
    }
    return withLine({ path: full(path), message, ...(hint ? { hint } : {}) }, lineOf, [...prefix, ...path]);
  });
}

function withLine(issue: ConfigIssue, lineOf: LineOf | undefined, yamlPath: readonly PathKey[]): ConfigIssue {
  const line = lineOf?.(yamlPath);
  return line ? { ...issue, path: `${issue.path} (line ${line})` } : issue;
}

/** Rule issues carry string paths; find their YAML line by re-parsing the path. */
function pathKeys(path: string): PathKey[] {
  const keys: PathKey[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) keys.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''));
  return keys;
}

export interface ValidateOptions extends RuleOptions {
  lineOf?: LineOf;
}

/** Validate an already-parsed cluster document. */
export function validateCluster(data: unknown, source: string, origin: Origin, opts: ValidateOptions = {}, prefix: readonly PathKey[] = []): Loaded<Cluster> {
  const parsed = clusterSchema.safeParse(data);
  if (!parsed.success) throw new ConfigError(source, zodIssues(parsed.error, opts.lineOf, prefix));
  const { errors, warnings } = checkCluster(parsed.data, origin, opts);
  const locate = (i: ConfigIssue) => {
    const keys = [...prefix, ...pathKeys(i.path)];
    return withLine({ ...i, path: formatPath(keys) }, opts.lineOf, keys);
  };
  if (errors.length) throw new ConfigError(source, errors.map(locate));
  return { value: parsed.data, warnings: warnings.map(locate) };
}

/** A cluster file as the operator writes it. */
export function loadClusterText(text: string, source: string, opts: RuleOptions = {}): Loaded<Cluster> {
  const { data, lineOf } = parseYaml(text, source);
  return validateCluster(data, source, 'cluster-file', { ...opts, lineOf });
}

/** A node's `ober` data (from vendor-data): the cluster with resolved secrets, and the node's name. */
export function validateNodeData(data: unknown, source: string, opts: ValidateOptions = {}): Loaded<NodeData> {
  // The envelope first (strict: unknown fields refused), the cluster with its own path prefix after.
  const envelope = nodeDataSchema.extend({ cluster: z.unknown() }).safeParse(data);
  if (!envelope.success) throw new ConfigError(source, zodIssues(envelope.error, opts.lineOf, []));
  const { value: cluster, warnings } = validateCluster((data as { cluster?: unknown }).cluster, source, 'node-data', opts, ['cluster']);
  const node = envelope.data.node;
  if (!cluster.nodes.some((n) => n.name === node)) {
    throw new ConfigError(source, [
      { path: 'node', message: `this node ('${node}') is not in cluster.nodes`, hint: `add it, or fix node: (known: ${cluster.nodes.map((n) => n.name).join(', ')})` },
    ]);
  }
  return { value: { version: 1, node, cluster }, warnings };
}
