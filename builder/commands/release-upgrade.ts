// The release side of `ober upgrade --check --repo` and `ober rollout --to V --repo`: newer versions
// from GitHub releases, and a version resolved to a verified local image that the existing template
// and rollout path takes from there (ober template create is idempotent: an existing template is kept).
import type { Output } from '../../firstboot/lib/output.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { compareVersions } from '../deploy/identity.js';
import { proxmoxOf } from '../deploy/node-vm.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { DEFAULT_HARDWARE, createTemplate } from '../proxmox/template.js';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition } from '../image/definition.js';
import { fetchReleaseImage, listReleases, type FetchedImage, type ReleaseInfo } from '../release/download.js';
import { githubFromFlags, transferProgress, type GithubFlags } from './github-options.js';
import { releaseDownloadDir } from './release.js';

export interface ReleaseCheckFlags extends GithubFlags {
  current?: string;
  download?: boolean;
  downloadDir?: string;
}

/** `ober upgrade --check --repo`: published versions newer than --current (default: this checkout's definition). */
export async function checkReleases(flags: ReleaseCheckFlags, out: Output): Promise<void> {
  const { gh, ref } = await githubFromFlags(flags, out, false);
  const current = flags.current ?? (await loadImageDefinition(DEFAULT_IMAGE_DEFINITION)).version;
  const newer: ReleaseInfo[] = (await listReleases(gh, ref)).filter((r) => compareVersions(r.version, current) > 0);
  let fetched: FetchedImage | undefined;
  if (flags.download && newer[0]) {
    fetched = await fetchReleaseImage(gh, ref, newer[0].images.length === 1 ? newer[0].version : `${newer[0].images[0]}_${newer[0].version}`,
      flags.downloadDir ?? releaseDownloadDir(flags.repo!), { info: (m) => out.info(m), progress: transferProgress(out, 'download') }, { allowedSigners: flags.allowedSigners });
  }
  if (out.json) return out.emitJson({ ok: true, repo: `${ref.owner}/${ref.repo}`, current, newer, ...(fetched ? { downloaded: fetched } : {}) });
  if (!newer.length) out.result(`no release newer than ${current} in ${ref.owner}/${ref.repo}`);
  for (const r of newer) out.result(`${r.version}  ${r.images.join(', ')}${r.prerelease ? '  (pre-release)' : ''} — ober rollout --to ${r.version} --repo ${ref.owner}/${ref.repo}`);
  if (fetched) out.ok(`${fetched.id} ${fetched.version} downloaded and verified: ${fetched.qcow2}`);
}

/**
 * `ober rollout --to V --repo`: V's image from the release, verified against its SHA256SUMS, made
 * into a template with the cluster's firmware (kept when it exists); returns the template selector.
 */
export async function templateFromRelease(client: ProxmoxClient, resolved: Cluster, to: string, flags: ReleaseCheckFlags, out: Output): Promise<string> {
  const { gh, ref } = await githubFromFlags(flags, out, false);
  const img = await fetchReleaseImage(gh, ref, to, flags.downloadDir ?? releaseDownloadDir(flags.repo!), { info: (m) => out.info(m), progress: transferProgress(out, 'download') }, { allowedSigners: flags.allowedSigners });
  out.info(`${img.id} ${img.version}: verified against the release's SHA256SUMS`);
  const upload = transferProgress(out, 'upload');
  const t = await createTemplate(client, { image: img.qcow2, hardware: { ...DEFAULT_HARDWARE, bios: proxmoxOf(resolved).firmware } }, { step: (m) => out.info(m), uploadProgress: (sent, total) => upload(img.qcow2, sent, total) });
  out.info(`template ${t.vmid} (${t.tag}) ${t.status === 'exists' ? 'already there' : 'created'}`);
  return `${img.id}_${img.version}`;
}
