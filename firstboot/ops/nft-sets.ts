// Replacing the elements of the whitelist sets in nftables' `inet ober` table. One `nft -f`
// script is one transaction (nft(8): a ruleset file is applied atomically), so a flush and the
// new elements take effect together: no packet ever sees an empty set.
import { run } from '../lib/exec.js';
import { NFT_TABLE } from '../render/system.js';

export interface SetUpdate {
  set: string;
  elements: readonly string[];
}

export function nftSetScript(updates: readonly SetUpdate[]): string {
  const lines: string[] = [];
  for (const u of updates) {
    lines.push(`flush set ${NFT_TABLE} ${u.set}`);
    if (u.elements.length) lines.push(`add element ${NFT_TABLE} ${u.set} { ${u.elements.join(', ')} }`);
  }
  return lines.join('\n') + '\n';
}

/** Applies a script; `prefix` runs nft elsewhere (e.g. `ip netns exec NS` in tests). */
export type NftApply = (script: string) => Promise<void>;

export const nftApply =
  (prefix: readonly string[] = []): NftApply =>
  async (script) =>
    void (await run([...prefix, 'nft', '-f', '-'], { input: script }));
