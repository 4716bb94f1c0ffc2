// Certificate material for the PEM corpus, made by openssl in a scratch directory: a CA, a leaf it
// issued (EC P-256), an unrelated self-signed certificate, a 1024-bit RSA leaf, encrypted keys.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';

export interface PemMaterial {
  caCert: string;
  leafCert: string;
  leafKey: string;
  otherCert: string;
  otherKey: string;
  rsa1024Cert: string;
  rsa1024Key: string;
  /** PKCS#8 encrypted (-----BEGIN ENCRYPTED PRIVATE KEY-----). */
  encryptedKey: string;
  /** Legacy PEM encryption (Proc-Type: 4,ENCRYPTED headers in an RSA PRIVATE KEY block). */
  legacyEncryptedKey: string;
  csr: string;
  ecParams: string;
}

export async function makePemMaterial(): Promise<PemMaterial> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ober-pem-'));
  const f = (n: string) => path.join(dir, n);
  const ossl = (...args: string[]) => run(['openssl', ...args]);
  try {
    await ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-subj', '/CN=Ober Test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    await ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f('leaf.key'));
    await ossl('req', '-new', '-key', f('leaf.key'), '-subj', '/CN=s3.example.com', '-out', f('leaf.csr'));
    await ossl('x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '365', '-out', f('leaf.pem'));
    await ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '365', '-subj', '/CN=other', '-keyout', f('other.key'), '-out', f('other.pem'));
    await ossl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-days', '365', '-subj', '/CN=weak', '-keyout', f('weak.key'), '-out', f('weak.pem'));
    await ossl('pkcs8', '-topk8', '-in', f('leaf.key'), '-passout', 'pass:secret', '-out', f('enc.key'));
    await ossl('genrsa', '-traditional', '-aes128', '-passout', 'pass:secret', '-out', f('legacy.key'), '2048');
    await ossl('ecparam', '-name', 'prime256v1', '-out', f('ec.params'));
    const r = (n: string) => readFile(f(n), 'utf8');
    return {
      caCert: await r('ca.pem'),
      leafCert: await r('leaf.pem'),
      leafKey: await r('leaf.key'),
      otherCert: await r('other.pem'),
      otherKey: await r('other.key'),
      rsa1024Cert: await r('weak.pem'),
      rsa1024Key: await r('weak.key'),
      encryptedKey: await r('enc.key'),
      legacyEncryptedKey: await r('legacy.key'),
      csr: await r('leaf.csr'),
      ecParams: await r('ec.params'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
