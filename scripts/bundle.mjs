// Bundles the two programs with esbuild:
//   dist/ober.mjs       the admin tool (builder/), Node 20+
//   dist/ober-node.mjs  the node program (firstboot/), one file for the image's Node.js (Debian 12: 18)
// `?raw` imports (templates) are inlined as strings, so neither program reads templates at run time.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const rawPlugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  plugins: [rawPlugin],
  // ESM bundles of CommonJS dependencies need a real `require` for Node built-ins.
  banner: { js: "import { createRequire as __ober_cr } from 'node:module'; const require = __ober_cr(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['builder/main.ts'], outfile: 'dist/ober.mjs', target: 'node20',
    external: ['ssh2', 'cpu-features'] }),
  build({ ...common, entryPoints: ['firstboot/main.ts'], outfile: 'dist/ober-node.mjs', target: 'node18' }),
]);
