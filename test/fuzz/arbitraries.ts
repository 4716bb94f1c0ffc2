// Inputs for the fuzz harness: valid documents (the examples) with a few mutations each — a value
// replaced by something hostile, a key deleted or invented, a list entry doubled — plus text-level
// damage (bytes inserted, the text cut) and documents of pure noise. Starting from valid documents
// gets the mutations past the first schema check, deep into the rules, derivation and rendering.
import fc from 'fast-check';

export type FuzzInput = string | Record<string, unknown>;

/** Values an attacker or a typo would put anywhere: injections, limits, addresses that are not. */
const HOSTILE = [
  'a\nb', 'a\r\nglobal', 'x}', '{', '[', 'a b', 'a;b', '"', "'", '#', '$(reboot)', '`id`', '\\', '\u0000', '\u202e', 'é', '',
  'x'.repeat(5000),
  '10.0.0.[9007199254740990-9007199254740993]', 'h[1-99999999999999999999]', 'h[0-4096]', 'h[1-4096]x[1-2]', 'a[1-2', 'a]', 'a[[1-2]]', 'a[1-2,,3]',
  '0x7f.0.0.1', '0x0a.0x1e.0.0x15:7480', '127.1', '012.0.0.1', '0x.0x.0x.0x', '1.2.3.4.5',
  '0.0.0.0', '0.0.0.0/0', '255.255.255.255', '224.0.0.18', '127.0.0.1', '169.254.0.1', '10.20.0.0', '10.20.0.255', '10.20.0.1', '10.30.0.21',
  '10.20.0.11/32', '10.20.0.11/7', '10.0.0.1/8', '10.0.0.0/40',
  '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  'rgw01.example.com:0', 'rgw01.example.com:65536', 'rgw01.example.com:7480',
];
const NUMBERS = [0, -1, 1, 255, 256, 4095, 4096, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 0.5, -0];

const address = fc
  .tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300), fc.option(fc.nat(40), { nil: undefined }))
  .map(([a, b, c, d, p]) => `${a}.${b}.${c}.${d}${p === undefined ? '' : `/${p}`}`);
const hostlistRange = fc
  .tuple(fc.constantFrom('h', '10.20.0.', 'rgw', ''), fc.oneof(fc.nat(10_000), fc.constantFrom(2 ** 53 - 2, 999_999_999)), fc.nat(10_000))
  .map(([p, lo, span]) => `${p}[${lo}-${lo + span}]`);
const sysctlEntry = fc
  .tuple(fc.constantFrom('kernel.kptr_restrict', 'kernel.panic', 'net.ipv4.conf.eth0.accept_redirects', 'fs.suid_dumpable', 'net.core.somaxconn'), fc.oneof(fc.nat(3), fc.constantFrom('x', { value: 0, allowWeakening: true }, { value: 0, allowWeakening: false })))
  .map(([k, v]) => ({ [k]: v }));

export const nasty: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE), weight: 6 },
  { arbitrary: address, weight: 3 },
  { arbitrary: hostlistRange, weight: 2 },
  { arbitrary: fc.constantFrom(...NUMBERS), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.constantFrom(true, false, null), weight: 1 },
  { arbitrary: fc.array(fc.constantFrom(...HOSTILE), { maxLength: 4 }), weight: 1 },
  { arbitrary: sysctlEntry, weight: 1 },
  { arbitrary: fc.anything({ maxDepth: 3, maxKeys: 4 }), weight: 1 },
);

type Container = Record<string | number, unknown>;
type Step = [Container, string | number];

/** Every (container, key) pair of a document, in a stable order. */
function slots(doc: unknown): Step[] {
  const out: Step[] = [];
  const walk = (v: unknown) => {
    if (v === null || typeof v !== 'object') return;
    const c = v as Container;
    for (const k of Array.isArray(c) ? c.keys() : Object.keys(c)) {
      out.push([c, k]);
      walk(c[k]);
    }
  };
  walk(doc);
  return out;
}

interface Mutation {
  at: number;
  op: 'set' | 'delete' | 'invent' | 'double';
  value: unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'set', 'set', 'delete', 'invent', 'double'), value: nasty });

function mutate(base: Record<string, unknown>, ms: readonly Mutation[]): Record<string, unknown> {
  const doc = structuredClone(base);
  for (const m of ms) {
    const all = slots(doc);
    if (all.length === 0) break;
    const [c, k] = all[m.at % all.length] as Step;
    if (m.op === 'set') c[k] = m.value;
    else if (m.op === 'delete') {
      if (Array.isArray(c)) c.splice(k as number, 1);
      else delete c[k];
    } else if (m.op === 'invent') {
      const target = c[k];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Container)[`x${m.at % 97}`] = m.value;
      else c[k] = m.value;
    } else if (Array.isArray(c)) c.push(structuredClone(c[k]));
  }
  return doc;
}

/** Text damage: insert hostile snippets at positions, or cut the text. */
const textDamage = (texts: readonly string[]) =>
  fc
    .tuple(fc.nat(texts.length - 1), fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...HOSTILE.filter((h) => h.length < 100)), fc.string({ maxLength: 12 }), fc.constantFrom(': ', '- ', '\n  ', '&a ', '*a', '!!binary ', '<<: ', '? '))), { minLength: 1, maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }))
    .map(([i, inserts, cut]) => {
      let t = texts[i] ?? '';
      for (const [pos, s] of inserts) {
        const p = pos % (t.length + 1);
        t = t.slice(0, p) + s + t.slice(p);
      }
      return cut === undefined ? t : t.slice(0, cut % (t.length + 1));
    });

export function clusterInput(clusters: readonly Record<string, unknown>[], texts: readonly string[]): fc.Arbitrary<FuzzInput> {
  return fc.oneof(
    { arbitrary: fc.tuple(fc.nat(clusters.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([i, ms]) => mutate(clusters[i] ?? {}, ms)), weight: 8 },
    { arbitrary: textDamage(texts), weight: 3 },
    { arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), nasty, { maxKeys: 6 }), weight: 1 },
  );
}

export function nodeDataInput(nodeData: Record<string, unknown>): fc.Arbitrary<FuzzInput> {
  const snippet = `#cloud-config\n${JSON.stringify({ ober: nodeData })}\n`;
  return fc.oneof(
    { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => mutate(nodeData, ms)), weight: 8 },
    { arbitrary: textDamage([snippet]), weight: 2 },
    { arbitrary: fc.string({ maxLength: 200 }).map((s) => `#cloud-config\n${s}`), weight: 1 },
  );
}
