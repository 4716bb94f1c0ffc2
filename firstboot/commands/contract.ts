// `ober validate` and `ober render`: the node contract, available in both programs. The admin
// tool runs them on a cluster file before anything is deployed; a node runs the same code at boot.
import type { Command } from 'commander';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { deriveAll, loadClusterFile } from '../model/cluster-file.js';
import type { Output } from '../lib/output.js';
import type { Register } from '../lib/program.js';
import { nodeData, vendorDataSnippet } from '../model/node-data.js';
import { renderNode } from '../render/index.js';
import { writeRenderedFiles } from '../render/files.js';
import { choiceFlag, manifestHaproxyVersion, targetFlag } from '../lib/flags.js';

function reportWarnings(out: Output, warnings: ConfigIssue[]): void {
  for (const w of warnings) out.warn(`${w.path}: ${w.message}${w.hint ? ` (${w.hint})` : ''}`);
}

const registerValidate: Register = (program, ctx) => {
  program
    .command('validate')
    .description('check a cluster file: schema, cross-field rules, secrets and certificates, every node derivable')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .action(async (opts: { cluster: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { cluster, resolved, warnings } = await loadClusterFile(opts.cluster);
      const nodes = await deriveAll(resolved);
      // Render too: a template that cannot be filled for this cluster is a validation failure.
      for (const n of nodes) renderNode(n);
      reportWarnings(out, warnings);
      if (out.json) {
        out.emitJson({ ok: true, cluster: cluster.name, mode: cluster.mode, nodes: nodes.map((n) => n.node.name), warnings });
      } else {
        out.ok(`${opts.cluster}: cluster ${cluster.name}, mode ${cluster.mode}, ${nodes.length} node(s), ${cluster.vips.length} VIP(s) — valid`);
      }
    });
};

const registerRender: Register = (program, ctx) => {
  program
    .command('render')
    .description("write a node's files as they will lie on the node (preview of first boot)")
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .option('-n, --node <name>', 'node to render (default: every node, each under <out>/<node>)')
    .option('-o, --out <dir>', 'output directory (omit with --json to only list the files)')
    .option('--target <family>', 'image family: debian or rhel', 'debian')
    .option('--haproxy-version <x.y>', 'render for this HAProxy version (default: the family default, Debian 13: 3.0)')
    .option('--manifest <file>', "render for the image this manifest describes (its versions.haproxy; build-image writes it)")
    .action(async (opts: { cluster: string; node?: string; out?: string; target: string; haproxyVersion?: string; manifest?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      if (opts.manifest && opts.haproxyVersion) throw new ConfigError('ober render', [{ path: '--manifest', message: 'and --haproxy-version both name the HAProxy version', hint: 'give one of them' }]);
      const target = targetFlag(opts.target, 'ober render', opts.manifest ? await manifestHaproxyVersion(opts.manifest, 'ober render') : opts.haproxyVersion);
      if (!opts.out && !out.json) {
        throw new ConfigError('ober render', [{ path: '--out', message: 'is required (or use --json to list the files)', hint: 'ober render --cluster FILE --node NAME --out DIR' }]);
      }
      const { resolved, warnings } = await loadClusterFile(opts.cluster);
      reportWarnings(out, warnings);
      const result: { node: string; dir?: string; files: { path: string; mode: string; bytes: number }[] }[] = [];
      for (const n of await deriveAll(resolved, opts.node)) {
        const files = renderNode(n, { target });
        const dir = opts.out ? (opts.node ? opts.out : path.join(opts.out, n.node.name)) : undefined;
        if (dir) await writeRenderedFiles(dir, files);
        result.push({
          node: n.node.name,
          ...(dir ? { dir } : {}),
          files: files.map((f) => ({ path: f.path, mode: f.mode.toString(8).padStart(4, '0'), bytes: Buffer.byteLength(f.content) })),
        });
        if (dir) {
          out.ok(`${n.node.name}: ${files.length} files → ${dir}`);
          for (const f of files) out.detail(`  ${f.mode.toString(8).padStart(4, '0')} ${f.path}`);
        }
      }
      if (out.json) out.emitJson({ ok: true, warnings, nodes: result });
    });
};

const registerVendorData: Register = (program, ctx) => {
  program
    .command('vendor-data')
    .description("print a node's cloud-init vendor-data snippet (its ober data, secrets included) for cicustom vendor=")
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .requiredOption('-n, --node <name>', 'node')
    .option('--format <format>', 'nocloud (YAML) or configdrive2 (JSON)', 'nocloud')
    .option('-o, --out <file>', 'write to this file (mode 0600) instead of stdout')
    .action(async (opts: { cluster: string; node: string; format: string; out?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const format = choiceFlag(opts.format, '--format', 'ober vendor-data', ['nocloud', 'configdrive2'] as const);
      const { resolved, warnings } = await loadClusterFile(opts.cluster);
      reportWarnings(out, warnings);
      // Derive once so a node that could not render is refused here, not at its boot.
      const [node] = await deriveAll(resolved, opts.node);
      if (!node) throw new ConfigError(opts.cluster, [{ path: '--node', message: `no node named '${opts.node}'` }]);
      renderNode(node);
      const text = vendorDataSnippet(nodeData(resolved, opts.node), format);
      if (opts.out) {
        await writeRenderedFiles('/', [{ path: path.resolve(opts.out), mode: 0o600, content: text }]);
        out.ok(`${opts.node}: vendor-data → ${opts.out}`);
      }
      // --json: the snippet as a string inside the one document (it is YAML or JSON text to store as is).
      if (out.json) out.emitJson({ ok: true, node: opts.node, format, ...(opts.out ? { file: opts.out } : { snippet: text }), warnings });
      else if (!opts.out) out.result(text.replace(/\n$/, ''));
    });
};

export const contractRegisters: Register[] = [registerValidate, registerRender, registerVendorData];
