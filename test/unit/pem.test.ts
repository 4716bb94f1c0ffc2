// Strict PEM: the bundle a node installs for HAProxy holds exactly the leaf, its chain and one
// unencrypted key that belongs to the leaf. Each broken bundle is refused through the real node
// data path with its field, what is wrong and how to fix it.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { parseYaml, validateNodeData } from '../../firstboot/model/load.js';
import { CERT_WARN_DAYS, inspectCaPem, inspectPem } from '../../firstboot/model/pem.js';
import { EXAMPLES } from '../helpers/fixtures.js';
import { makePemMaterial, type PemMaterial } from '../helpers/pem.js';

let m: PemMaterial;
let base: Record<string, unknown>;
beforeAll(async () => {
  m = await makePemMaterial();
  const cluster = parseYaml(await readFile(EXAMPLES[0] ?? '', 'utf8'), 'x').data as Record<string, unknown>;
  cluster.secrets = { 'bgp-md5': { value: 'ok-password' } };
  base = { version: 1, node: 'ober1', cluster };
}, 60_000);

const DAY = 86_400_000;

function nodeDataWith(pem: string, now = Date.now()) {
  const doc = structuredClone(base);
  (doc.cluster as Record<string, unknown>).certificates = [{ name: 's3', pem }];
  return () => validateNodeData(doc, 'vendor-data', { now });
}

/** The bundle must be refused at certificates[0].pem with a message matching `message`. */
function refused(pem: string, message: RegExp, now?: number) {
  let e: unknown;
  try {
    nodeDataWith(pem, now)();
  } catch (x) {
    e = x;
  }
  expect(e, 'accepted').toBeInstanceOf(ConfigError);
  const issues = (e as ConfigError).issues.filter((i) => i.path.startsWith('cluster.certificates[0].pem'));
  expect(issues.map((i) => i.message).join('\n'), (e as Error).message).toMatch(message);
  return issues;
}

describe('strict PEM: refused bundles', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a bogus second certificate', () => `${m.leafCert}-----BEGIN CERTIFICATE-----\nMIIBb2d1cyBjZXJ0\n-----END CERTIFICATE-----\n${m.leafKey}`, /certificate at line \d+ cannot be parsed/],
    ['garbage text after the key', () => `${m.leafCert}${m.leafKey}this is not pem\n`, /text after the last PEM block at line \d+/],
    ['garbage text between blocks', () => `${m.leafCert}subject=CN = s3.example.com\n${m.leafKey}`, /text outside the PEM blocks at line \d+/],
    ['an extra encrypted key beside the right one', () => `${m.leafCert}${m.leafKey}${m.encryptedKey}`, /encrypted: HAProxy cannot ask for its passphrase/],
    ['only an encrypted key', () => `${m.leafCert}${m.encryptedKey}`, /encrypted/],
    ['a legacy encrypted RSA key (Proc-Type headers)', () => `${m.leafCert}${m.legacyEncryptedKey}`, /encrypted/],
    ['a NUL byte', () => `${m.leafCert}\u0000${m.leafKey}`, /contains a NUL byte at line \d+/],
    ['a NUL byte inside a block', () => m.leafCert.replace('\n', '\n\u0000') + m.leafKey, /NUL byte/],
    ['a non-ASCII character', () => `${m.leafCert}# café\n${m.leafKey}`, /non-ASCII character/],
    ['an EC PARAMETERS block', () => `${m.leafCert}${m.ecParams}${m.leafKey}`, /unexpected EC PARAMETERS block/],
    ['a certificate request', () => `${m.leafCert}${m.leafKey}${m.csr}`, /unexpected CERTIFICATE REQUEST block/],
    ['an unterminated block', () => `${m.leafCert}${m.leafKey}-----BEGIN CERTIFICATE-----\nMIIB\n`, /unterminated PEM block/],
    ['BEGIN and END that differ', () => `${m.leafCert.replace('-----END CERTIFICATE-----', '-----END X509 CRL-----')}${m.leafKey}`, /begins as CERTIFICATE but ends as X509 CRL/],
    ['base64 with a stray character', () => `${m.leafCert.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!')}${m.leafKey}`, /not valid base64/],
    ['two keys', () => `${m.leafCert}${m.leafKey}${m.leafKey}`, /exactly one private key, found 2/],
    ['no key', () => m.leafCert, /exactly one private key, found 0/],
    ['no certificate', () => m.leafKey, /contains no certificate/],
    ['an empty file', () => '', /contains no certificate/],
    ["a key that is not the leaf's", () => `${m.leafCert}${m.otherKey}`, /does not belong to the certificate/],
    ['the chain before the leaf', () => `${m.caCert}${m.leafCert}${m.leafKey}`, /does not belong to the certificate/],
    ['an unrelated certificate in the chain', () => `${m.leafCert}${m.otherCert}${m.leafKey}`, /chain certificate 2 \(subject CN=other\) did not issue/],
    ['the leaf twice', () => `${m.leafCert}${m.leafCert}${m.leafKey}`, /appears twice|did not issue/],
    ['a 1024-bit RSA key', () => `${m.rsa1024Cert}${m.rsa1024Key}`, /RSA key has 1024 bits, fewer than 2048/],
  ];
  it.each(cases)('%s', (_name, pem, message) => {
    const issues = refused(pem(), message);
    // Every refusal says what to do.
    for (const i of issues) expect(i.hint ?? '', i.message).toMatch(/.{10}/);
  });

  it('an expired leaf (checked with a clock two years on)', () => {
    refused(`${m.leafCert}${m.leafKey}`, /the certificate expired on \d{4}-\d\d-\d\d/, Date.now() + 2 * 365 * DAY);
  });

  it('an expired chain certificate', () => {
    // The CA lives ten years, the leaf one: at eleven years both have expired, and both are named.
    const issues = refused(`${m.leafCert}${m.caCert}${m.leafKey}`, /chain certificate 2 .* expired/, Date.now() + 11 * 365 * DAY);
    expect(issues.some((i) => /^the certificate expired/.test(i.message))).toBe(true);
  });
});

describe('strict PEM: accepted bundles', () => {
  it('leaf, chain and key in any block order, CRLF line ends', () => {
    expect(inspectPem(`${m.leafCert}${m.caCert}${m.leafKey}`, Date.now())).toEqual({ errors: [], warnings: [] });
    expect(inspectPem(`${m.leafKey}\n${m.leafCert}${m.caCert}`, Date.now()).errors).toEqual([]);
    expect(inspectPem(`${m.leafCert}${m.leafKey}`.replace(/\n/g, '\r\n'), Date.now()).errors).toEqual([]);
    expect(() => nodeDataWith(`${m.leafCert}${m.caCert}${m.leafKey}`)()).not.toThrow();
  });

  it(`warns ${CERT_WARN_DAYS} days before the leaf expires, and reports the warning through validation`, () => {
    const soon = Date.now() + (365 - 10) * DAY;
    const r = inspectPem(`${m.leafCert}${m.leafKey}`, soon);
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => w.message).join('\n')).toMatch(/expires on .* within 14 days/);
    const { warnings } = nodeDataWith(`${m.leafCert}${m.leafKey}`, soon)();
    expect(warnings.some((w) => w.path.startsWith('cluster.certificates[0].pem') && /within 14 days/.test(w.message))).toBe(true);
  });

  it('warns (does not refuse) a leaf that is not yet valid: a node may boot before its clock is set', () => {
    const r = inspectPem(`${m.leafCert}${m.leafKey}`, Date.now() - 2 * DAY);
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => w.message).join('\n')).toMatch(/not valid before/);
  });

  it('a CA bundle holds certificates only', () => {
    expect(inspectCaPem(`${m.caCert}${m.otherCert}`).errors).toEqual([]);
    expect(inspectCaPem(`${m.caCert}${m.leafKey}`).errors[0]?.message).toMatch(/must not contain a private key/);
    expect(inspectCaPem(`${m.caCert}junk\n`).errors[0]?.message).toMatch(/text after the last PEM block/);
    expect(inspectCaPem(`${m.caCert}${m.csr}`).errors[0]?.message).toMatch(/unexpected CERTIFICATE REQUEST/);
  });
});
