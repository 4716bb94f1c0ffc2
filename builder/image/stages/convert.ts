// Stage `convert`: raw disk → compressed qcow2 (what Proxmox imports).
import path from 'node:path';
import { run } from '../../../firstboot/lib/exec.js';
import type { ImageDefinition } from '../definition.js';
import type { Stage } from '../stage.js';

const REVISION = 1;

export function convertStage(def: ImageDefinition, assembleDir: string, assembleKey: string, qcow2Name: string): Stage {
  const argv = (out: string): string[] => [
    'qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-c',
    // zstd needs a reader with qemu >= 5.1 (Proxmox 8 has 8.x); zlib is the portable fallback
    '-o', `compression_type=${def.output.compression}`,
    path.join(assembleDir, 'disk.raw'), path.join(out, qcow2Name),
  ];
  return {
    name: 'convert',
    inputs: { revision: REVISION, assemble: assembleKey, compression: def.output.compression, name: qcow2Name },
    commands: [argv('<out>')],
    async run(out) {
      await run(argv(out));
    },
  };
}
