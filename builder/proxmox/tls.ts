// Trust in the Proxmox server's certificate: the system CAs, a pinned CA file, or the SHA-256
// fingerprint of the server certificate (what `pvenode cert info` prints). There is no
// accept-anything mode: with a fingerprint the chain is not checked, the certificate itself is.
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import { ConfigError } from '../../firstboot/lib/errors.js';

export type TlsTrust = { kind: 'system' } | { kind: 'ca-file'; path: string } | { kind: 'fingerprint'; sha256: string };

/** `AA:BB:...` or plain hex, any case → 64 lowercase hex digits; undefined when malformed. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export class FingerprintMismatchError extends Error {
  readonly code = 'ERR_TLS_CERT_FINGERPRINT_MISMATCH';
  constructor(expected: string, actual: string) {
    super(`server certificate fingerprint ${formatFingerprint(actual)} does not match the pinned ${formatFingerprint(expected)}`);
  }
}

function formatFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

/** The undici connector for a trust setting. */
export async function tlsConnector(trust: TlsTrust): Promise<buildConnector.connector> {
  if (trust.kind === 'system') return buildConnector({});
  if (trust.kind === 'ca-file') {
    let ca: string;
    try {
      ca = await readFile(trust.path, 'utf8');
    } catch (e) {
      throw new ConfigError('Proxmox connection', [{ path: 'PROXMOX_CA_FILE', message: `cannot read ${trust.path}: ${(e as Error).message}` }]);
    }
    // Only this CA is trusted, not the system store: the pin is the point.
    return buildConnector({ ca });
  }
  const expected = trust.sha256;
  // The chain of a self-signed Proxmox certificate cannot verify, so chain verification is off for
  // this one connector and replaced by comparing the certificate's own hash before any byte is sent.
  // Session resumption is off so that every connection presents its certificate.
  const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0 });
  return (opts, callback) =>
    base(opts, (err, socket) => {
      if (err || !socket) return callback(err ?? new Error('no socket'), null);
      const cert = (socket as TLSSocket).getPeerCertificate?.();
      const actual = normalizeFingerprint(cert?.fingerprint256 ?? '') ?? '';
      if (actual !== expected) {
        socket.destroy();
        return callback(new FingerprintMismatchError(expected, actual || '(none)'), null);
      }
      callback(null, socket);
    });
}
