// `ober config [--cluster FILE] [--dry-run] [--answers FILE]`: write or edit a cluster file by
// questions (builder/config/wizard.ts). The result is validated as `ober validate` does before it
// replaces the file; --dry-run prints the diff and writes nothing.
import type { Command } from 'commander';
import { createTwoFilesPatch } from 'diff';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { loadClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { writeFileAtomic } from '../../firstboot/ops/atomic.js';
import { httpGet } from '../../firstboot/lib/http.js';
import { readBoundedText } from '../../firstboot/lib/read-bounded.js';
import { tcpConnect } from '../../firstboot/ops/probes.js';
import { answersAsker, terminalAsker } from '../config/asker.js';
import { detectAdminHost, documentOf, runWizard } from '../config/wizard.js';

interface ConfigFlags {
  cluster: string;
  dryRun?: boolean;
  answers?: string;
}

export const registerConfig: Register = (program, ctx) => {
  program
    .command('config')
    .description('write or edit a cluster file by questions (HA mode, BGP or keepalived, VIPs, backends, certificates, logging, whitelists, nodes); keeps an existing file\'s comments and order')
    .option('-c, --cluster <file>', 'the cluster file to write or edit', 'cluster.yaml')
    .option('--dry-run', 'print the diff; write nothing')
    .option('--answers <file>', 'take the answers from a YAML file (question id: value) instead of a terminal, for scripts')
    .action(async (flags: ConfigFlags, c: Command) => {
      const out = ctx.output(c);
      const before = await readFile(flags.cluster, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw new ConfigError(flags.cluster, [{ path: '', message: `cannot read it: ${e.code ?? e.message}` }]);
      });
      let ask;
      if (flags.answers) {
        ask = answersAsker(await readAnswers(flags.answers), flags.answers);
      } else {
        if (!process.stdin.isTTY) throw new ConfigError('config', [{ path: '--answers', message: 'no terminal to ask on', hint: 'run it in a terminal, or give the answers with --answers FILE' }]);
        ask = terminalAsker();
      }
      const doc = documentOf(before);
      const baseDir = path.dirname(path.resolve(flags.cluster));
      ask.note(before === undefined ? `new cluster file ${flags.cluster}` : `editing ${flags.cluster}: sections already there can be kept`);
      await runWizard(doc, { ask, admin: detectAdminHost(), baseDir, probes: { tcp: tcpConnect, http: httpGet } });
      // No padding inside flow collections: `[10.20.0.1]` stays as written.
      const after = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
      // Validated exactly as `ober validate` does (certificates read relative to the file) before it counts.
      const tmp = path.join(baseDir, `.${path.basename(flags.cluster)}.ober-config.tmp`);
      await writeFileAtomic(tmp, after, 0o644);
      try {
        const { warnings } = await loadClusterFile(tmp);
        for (const w of warnings) out.warn(`${w.path}: ${w.message}${w.hint ? ` (${w.hint})` : ''}`);
      } finally {
        await rm(tmp, { force: true });
      }
      const diff = createTwoFilesPatch(flags.cluster, flags.cluster, before ?? '', after, before === undefined ? '(none)' : 'before', 'after');
      if (flags.dryRun) {
        if (out.json) out.emitJson({ ok: true, dryRun: true, file: flags.cluster, diff });
        else out.result(diff);
        return;
      }
      if (before === after) out.ok(`${flags.cluster}: unchanged`);
      else {
        await writeFileAtomic(flags.cluster, after, 0o644);
        out.ok(`${flags.cluster} written; ober validate accepts it`);
      }
      if (out.json) out.emitJson({ ok: true, file: flags.cluster, changed: before !== after });
    });
};

/** An answers file: a YAML mapping of question ids to answers; any problem is the user's to fix. */
async function readAnswers(file: string): Promise<Record<string, unknown>> {
  const hint = 'a YAML file of `question id: answer` lines (ids as the questions name them, e.g. bgp.localAs)';
  let text: string;
  try {
    text = await readBoundedText(file, { maxBytes: 1024 * 1024 });
  } catch (e) {
    throw new ConfigError('ober config', [{ path: '--answers', message: `cannot read ${file}: ${(e as Error).message}`, hint }]);
  }
  let answers: unknown;
  try {
    answers = parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `YAML syntax: ${(e as Error).message.split('\n')[0] ?? ''}`, hint }]);
  }
  if (!answers || typeof answers !== 'object' || Array.isArray(answers)) throw new ConfigError(file, [{ path: '', message: 'must be a mapping of question ids to answers', hint }]);
  return answers as Record<string, unknown>;
}
