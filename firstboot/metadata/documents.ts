// Parsing the containers a cloud-init drive carries (text, YAML, JSON, #cloud-config) with errors
// that name the file and say what it should look like. The `ober` document inside is not
// validated here; only its container is.
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import { yamlShapeProblem } from '../lib/yaml-limits.js';
import { problem } from './problems.js';

/** A file's text and the name to use for it in messages. */
export interface TextFile {
  file: string;
  text: string;
}

export function decodeText(bytes: Buffer, file: string): string {
  if (bytes.includes(0)) throw problem(file, 'contains NUL bytes: this is binary data, not a text file');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw problem(file, 'is not UTF-8 text');
  }
}

/** A parsed YAML mapping, plus each top-level scalar exactly as written. */
export interface YamlMapping {
  value: Record<string, unknown>;
  /**
   * A top-level scalar as the text the author wrote. Identifiers such as `instance-id: 1234e5`
   * (a sha1 can look like a number) must not go through number conversion.
   */
  text(key: string): string | undefined;
}

export function parseYamlMapping(text: string, file: string): YamlMapping {
  const shape = yamlShapeProblem(text);
  if (shape) throw problem(file, `is not usable YAML: ${shape}`);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const [err] = doc.errors;
  if (err) {
    // With prettyErrors off the parser leaves `linePos` unset: the line counter gives the line.
    throw problem(file, `is not valid YAML (line ${lc.linePos(err.pos[0]).line}): ${err.message.split('\n')[0]}`);
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    // toJS throws on an alias to a missing anchor (`*o`): the fuzzer's find.
    let found: string;
    try {
      found = kindOf(doc.toJS({ maxAliasCount: 100 }));
    } catch (e) {
      found = `a value that cannot be loaded (${(e as Error).message})`;
    }
    throw problem(file, `must be a YAML mapping of "key: value" lines, found ${found}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }); // bounds alias expansion ("billion laughs")
  } catch (e) {
    throw problem(file, `cannot be loaded: ${(e as Error).message}`);
  }
  return {
    value: (value ?? {}) as Record<string, unknown>,
    text(key) {
      const node = doc.get(key, true);
      if (!isScalar(node) || node.value === null) return undefined;
      if (typeof node.value === 'string') return node.value;
      return node.source ?? String(node.value);
    },
  };
}

export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw problem(file, `is not valid JSON: ${(e as Error).message}`);
  }
}

export function parseJsonObject(text: string, file: string): Record<string, unknown> {
  const value = parseJson(text, file);
  if (!isRecord(value)) throw problem(file, `must be a JSON object, found ${kindOf(value)}`);
  return value;
}

/**
 * Whether cloud-init treats this user/vendor data as cloud-config: it compares the start of the
 * payload, lower-cased and without leading whitespace (cloudinit/handlers type_from_starts_with).
 */
export function isCloudConfig(text: string): boolean {
  return text.trimStart().toLowerCase().startsWith('#cloud-config');
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v} (${JSON.stringify(v).slice(0, 40)})`;
}
