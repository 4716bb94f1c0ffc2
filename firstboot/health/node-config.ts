// The node's derived configuration (node.json), as first boot rendered it: read by the node
// commands that run beside the daemons (health feeds, vip-release).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../lib/errors.js';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';

/** The node's derived configuration (node.json), as rendered at first boot. */
export function readNodeConfig(layout: Layout): NodeConfig {
  let text: string;
  try {
    text = readFileSync(layout.nodeJson, 'utf8');
  } catch (e) {
    throw new ConfigError(layout.nodeJson, [
      { path: '', message: `cannot read the node configuration: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint: 'run ober firstboot first (or pass --root)' },
    ]);
  }
  return JSON.parse(text) as NodeConfig;
}

