// PEM bundles read strictly: HAProxy's `crt` file must hold exactly the leaf certificate, its
// chain and one unencrypted private key that belongs to the leaf — nothing else. A looser reading
// let through a bogus second certificate (haproxy -c then fails on the node, which serves
// nothing), stray text, or an extra encrypted key beside the right one.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface PemIssue {
  message: string;
  hint?: string;
}

export interface PemReport {
  errors: PemIssue[];
  warnings: PemIssue[];
}

/** A certificate expiring within this many days is reported as a warning (validate, doctor). */
export const CERT_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

/** Smallest RSA modulus accepted: below 2048 bits is refused by current clients (and NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;
/** EC curves TLS clients support for server keys. */
const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

interface Block {
  label: string;
  headers: string;
  body: string;
  /** 1-based line of the BEGIN line. */
  line: number;
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);
const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]{1,40})-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]{1,40})-----/g;

const lineAt = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** Split into blocks; anything but whitespace between them is an error. */
function splitBlocks(pem: string, errors: PemIssue[]): Block[] {
  const blocks: Block[] = [];
  let at = 0;
  for (const m of pem.matchAll(BLOCK_RE)) {
    const [whole, label = '', inner = '', end = ''] = m;
    const between = pem.slice(at, m.index);
    if (between.trim() !== '') {
      errors.push({ message: `text outside the PEM blocks at line ${lineAt(pem, at + between.search(/\S/))}`, hint: 'the file must hold only BEGIN/END blocks: the certificate, its chain and the private key' });
    }
    if (end !== label) errors.push({ message: `block at line ${lineAt(pem, m.index)} begins as ${label} but ends as ${end}`, hint: 'the file was cut or pasted together wrongly: export it again' });
    // RFC 1421 headers (legacy encrypted keys: "Proc-Type: 4,ENCRYPTED") come before a blank line.
    const split = /^((?:[A-Za-z-]+:.*\r?\n)+)\r?\n/.exec(inner);
    blocks.push({ label, headers: split?.[1] ?? '', body: inner.slice(split?.[0].length ?? 0), line: lineAt(pem, m.index) });
    at = m.index + whole.length;
  }
  if (pem.slice(at).trim() !== '') {
    const rest = pem.slice(at);
    const what = /-----BEGIN /.test(rest) ? 'an unterminated PEM block' : 'text after the last PEM block';
    errors.push({ message: `${what} at line ${lineAt(pem, at + rest.search(/\S/))}`, hint: 'the file must hold only BEGIN/END blocks: the certificate, its chain and the private key' });
  }
  return blocks;
}

/** Base64 of a PEM body: 4-character groups, `=` padding only at the end, nothing else. */
function bodyProblem(b: Block): string | undefined {
  const compact = b.body.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact) || compact.length === 0) {
    return `the ${b.label} block at line ${b.line} is not valid base64`;
  }
  return undefined;
}

function controlProblem(pem: string): PemIssue | undefined {
  const i = pem.search(/[^\t\n\r\x20-\x7e]/);
  if (i < 0) return undefined;
  const c = pem.charCodeAt(i);
  const what = c === 0 ? 'a NUL byte' : c > 0x7e ? 'a non-ASCII character' : `control character 0x${c.toString(16).padStart(2, '0')}`;
  return { message: `contains ${what} at line ${lineAt(pem, i)}: PEM is plain ASCII text`, hint: 'export the bundle again as PEM (openssl x509 / openssl pkey), not DER or a word-processor copy' };
}

function keyProblem(key: KeyObject): PemIssue | undefined {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      if ((d?.modulusLength ?? 0) < MIN_RSA_BITS) return { message: `the RSA key has ${d?.modulusLength} bits, fewer than ${MIN_RSA_BITS}`, hint: 'issue a new certificate with a 2048-bit (or larger) RSA key or a P-256 EC key' };
      return undefined;
    case 'ec':
      if (!EC_CURVES.has(d?.namedCurve ?? '')) return { message: `the EC key uses curve ${d?.namedCurve}, which TLS clients do not accept`, hint: 'use P-256 (prime256v1) or P-384' };
      return undefined;
    default:
      return { message: `the key is of type ${key.asymmetricKeyType}, which most TLS clients cannot use for a server certificate`, hint: 'use an RSA (2048+) or P-256/P-384 EC key' };
  }
}

const date = (s: string) => new Date(Date.parse(s)).toISOString().slice(0, 10);

function expiry(cert: X509Certificate, which: string, now: number | undefined, report: PemReport): void {
  if (now === undefined) return;
  const to = Date.parse(cert.validTo);
  const from = Date.parse(cert.validFrom);
  if (to < now) report.errors.push({ message: `${which} expired on ${date(cert.validTo)}`, hint: 'renew it and deploy the new PEM' });
  else if (to < now + CERT_WARN_DAYS * DAY_MS) report.warnings.push({ message: `${which} expires on ${date(cert.validTo)}, within ${CERT_WARN_DAYS} days`, hint: 'renew it soon' });
  // Only a warning: a node may boot before its clock is set, and a fresh certificate is minutes old.
  if (from > now) report.warnings.push({ message: `${which} is not valid before ${date(cert.validFrom)}`, hint: "check the clock of this machine and of the certificate's issuer" });
}

const REEXPORT = 'export it again as PEM (openssl x509 -in cert.pem; openssl pkey -in key.pem) and check that nothing was cut off';

const subjectOf = (c: X509Certificate) => c.subject.replace(/\n/g, ', ');

/**
 * A PEM bundle for HAProxy: the leaf certificate first, then its chain (each certificate issued
 * by the next), exactly one unencrypted private key belonging to the leaf, nothing else. `now`
 * (ms) enables the expiry checks.
 */
export function inspectPem(pem: string, now?: number): PemReport {
  const report: PemReport = { errors: [], warnings: [] };
  const ctl = controlProblem(pem);
  if (ctl) return { errors: [ctl], warnings: [] };
  const blocks = splitBlocks(pem, report.errors);
  for (const b of blocks) {
    if (b.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(b.headers)) {
      report.errors.push({ message: `the private key at line ${b.line} is encrypted: HAProxy cannot ask for its passphrase at boot`, hint: 'decrypt it (openssl pkey -in key.pem -out plain.pem) and keep the file root-only' });
    } else if (b.label !== 'CERTIFICATE' && !KEY_LABELS.has(b.label)) {
      report.errors.push({ message: `unexpected ${b.label} block at line ${b.line}`, hint: 'the file must hold only the certificate, its chain and the private key (remove parameter, CSR or CRL blocks)' });
    } else if (b.headers) {
      report.errors.push({ message: `the ${b.label} block at line ${b.line} has RFC 1421 headers`, hint: 'export it again without headers' });
    } else {
      const bad = bodyProblem(b);
      if (bad) report.errors.push({ message: bad, hint: REEXPORT });
    }
  }
  if (report.errors.length) return report;

  const certBlocks = blocks.filter((b) => b.label === 'CERTIFICATE');
  const keyBlocks = blocks.filter((b) => KEY_LABELS.has(b.label));
  if (certBlocks.length === 0) return { errors: [{ message: 'contains no certificate (-----BEGIN CERTIFICATE-----)', hint: 'put the leaf certificate, its chain and its private key in the file' }], warnings: [] };
  if (keyBlocks.length !== 1) {
    return { errors: [{ message: `must contain exactly one private key, found ${keyBlocks.length}`, hint: 'put the leaf certificate, its chain and its one private key in the file' }], warnings: [] };
  }
  const certs: X509Certificate[] = [];
  for (const b of certBlocks) {
    try {
      certs.push(new X509Certificate(`-----BEGIN CERTIFICATE-----\n${b.body}-----END CERTIFICATE-----\n`));
    } catch (e) {
      report.errors.push({ message: `the certificate at line ${b.line} cannot be parsed: ${(e as Error).message}`, hint: REEXPORT });
    }
  }
  let key: KeyObject | undefined;
  const kb = keyBlocks[0] as Block;
  try {
    key = createPrivateKey(`-----BEGIN ${kb.label}-----\n${kb.body}-----END ${kb.label}-----\n`);
  } catch (e) {
    report.errors.push({ message: `the private key at line ${kb.line} cannot be parsed: ${(e as Error).message}`, hint: REEXPORT });
  }
  if (report.errors.length || !key) return report;

  const [leaf, ...chain] = certs as [X509Certificate, ...X509Certificate[]];
  if (!leaf.checkPrivateKey(key)) {
    report.errors.push({ message: `the private key does not belong to the certificate (subject ${subjectOf(leaf)})`, hint: 'the first certificate must be the one issued for this key (the leaf), then its chain' });
    return report;
  }
  const kp = keyProblem(key);
  if (kp) report.errors.push(kp);
  expiry(leaf, 'the certificate', now, report);
  const seen = new Set([leaf.fingerprint256]);
  let child = leaf;
  chain.forEach((c, i) => {
    const which = `chain certificate ${i + 2} (subject ${subjectOf(c)})`;
    if (seen.has(c.fingerprint256)) report.errors.push({ message: `${which} appears twice`, hint: 'list each chain certificate once' });
    seen.add(c.fingerprint256);
    if (!child.checkIssued(c) || !child.verify(c.publicKey)) {
      report.errors.push({ message: `${which} did not issue the certificate before it (issuer ${child.issuer.replace(/\n/g, ', ')})`, hint: 'order the file leaf first, then each issuer; leave out certificates of other chains' });
    }
    expiry(c, which, now, report);
    child = c;
  });
  return report;
}

/** A CA bundle (a backend's caCertificate): certificates only, each parseable, no key. */
export function inspectCaPem(pem: string, now?: number): PemReport {
  const report: PemReport = { errors: [], warnings: [] };
  const ctl = controlProblem(pem);
  if (ctl) return { errors: [ctl], warnings: [] };
  const blocks = splitBlocks(pem, report.errors);
  for (const b of blocks) {
    if (KEY_LABELS.has(b.label) || b.label === 'ENCRYPTED PRIVATE KEY') report.errors.push({ message: `a CA bundle must not contain a private key (line ${b.line})`, hint: 'remove the key: only the CA certificates belong here' });
    else if (b.label !== 'CERTIFICATE') report.errors.push({ message: `unexpected ${b.label} block at line ${b.line}`, hint: 'a CA bundle holds CERTIFICATE blocks only' });
    else {
      const bad = bodyProblem(b) ?? (b.headers ? `the CERTIFICATE block at line ${b.line} has RFC 1421 headers` : undefined);
      if (bad) report.errors.push({ message: bad, hint: REEXPORT });
    }
  }
  if (report.errors.length) return report;
  if (blocks.length === 0) return { errors: [{ message: 'contains no certificate (-----BEGIN CERTIFICATE-----)', hint: 'put the CA certificates the backends are signed by in the file' }], warnings: [] };
  for (const b of blocks) {
    try {
      const c = new X509Certificate(`-----BEGIN CERTIFICATE-----\n${b.body}-----END CERTIFICATE-----\n`);
      // One expired CA among several is common in bundles and harmless while another one verifies.
      if (now !== undefined && Date.parse(c.validTo) < now) report.warnings.push({ message: `the CA certificate at line ${b.line} (subject ${subjectOf(c)}) expired on ${date(c.validTo)}` });
    } catch (e) {
      report.errors.push({ message: `the certificate at line ${b.line} cannot be parsed: ${(e as Error).message}`, hint: REEXPORT });
    }
  }
  return report;
}

/** The first problem of a HAProxy PEM bundle, or undefined (for callers that only need yes/no). */
export function checkPem(pem: string, now?: number): string | undefined {
  return inspectPem(pem, now).errors[0]?.message;
}

/** The first problem of a CA bundle, or undefined. */
export function checkCaPem(pem: string, now?: number): string | undefined {
  return inspectCaPem(pem, now).errors[0]?.message;
}
