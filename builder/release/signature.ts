// Operator signatures on SHA256SUMS with ssh-keygen -Y (OpenSSH's SSHSIG format, ssh-keygen(1)
// "ALLOWED SIGNERS"): the publisher signs with an SSH key, the reader checks the signature against
// an allowed_signers file before it trusts any checksum in the list.
import { readFile, rm } from 'node:fs/promises';
import { run } from '../../firstboot/lib/exec.js';
import { ChecksumMismatchError } from './artifacts.js';

/** The SSHSIG namespace: a signature made for anything else (git commits, files) does not verify here. */
export const SIGNATURE_NAMESPACE = 'herr-ober-release';

/** `<sums>.sig` next to the list. Ed25519 signatures are deterministic, so re-signing gives the same file. */
export async function signSums(sumsFile: string, keyFile: string): Promise<string> {
  const sig = `${sumsFile}.sig`;
  await rm(sig, { force: true }); // ssh-keygen asks before overwriting
  await run(['ssh-keygen', '-Y', 'sign', '-f', keyFile, '-n', SIGNATURE_NAMESPACE, sumsFile]);
  return sig;
}

/** The principal that signed `sumsFile`, or a ChecksumMismatchError when nobody in allowed_signers did. */
export async function verifySums(sumsFile: string, sigFile: string, allowedSigners: string): Promise<string> {
  const found = await run(['ssh-keygen', '-Y', 'find-principals', '-s', sigFile, '-f', allowedSigners], { allowFailure: true });
  const principal = found.exitCode === 0 ? found.stdout.split('\n')[0]?.trim() : undefined;
  if (!principal) throw new ChecksumMismatchError(`${sigFile}: not signed by a key in ${allowedSigners}: SHA256SUMS refused`);
  const ok = await run(['ssh-keygen', '-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', sigFile], { input: await readFile(sumsFile), allowFailure: true });
  if (ok.exitCode !== 0) throw new ChecksumMismatchError(`${sigFile}: the signature of ${principal} does not match SHA256SUMS (${(ok.stderr || ok.stdout).trim()}): refused`);
  return principal;
}
