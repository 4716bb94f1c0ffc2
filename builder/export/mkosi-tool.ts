// Finding an mkosi that reads the exported project, and running it: `ober build-image --builder mkosi`.
import path from 'node:path';
import { run, which } from '../../firstboot/lib/exec.js';
import { OberError } from '../../firstboot/lib/errors.js';
import { MKOSI_MIN_VERSION } from './mkosi.js';

/** mkosi is missing, or too old to read the project. */
export class MkosiVersionError extends OberError {
  override name = 'MkosiVersionError';
  constructor(found: string | undefined) {
    super(
      `ober build-image --builder mkosi needs mkosi ${MKOSI_MIN_VERSION} or newer; ${found ? `found ${found}` : 'no mkosi on PATH'}. ` +
        `Debian 12 ships mkosi 14, Debian 13 ships 25.3: build on Debian 13 (apt-get install mkosi), or export the project ` +
        `with ober image export --builder mkosi DIR and run mkosi -C DIR build there.`,
    );
  }
}

/** `mkosi 25.3` → 25.3; `mkosi 14` → 14. */
export function parseMkosiVersion(stdout: string): { text: string; major: number } | undefined {
  const m = /^mkosi (\d+)(?:\.(\d+))?/m.exec(stdout.trim());
  return m ? { text: `mkosi ${m[1]}${m[2] ? `.${m[2]}` : ''}`, major: Number(m[1]) } : undefined;
}

/** The mkosi to run (`$OBER_MKOSI` or PATH), checked for the version the project needs. */
export async function requireMkosi(): Promise<string> {
  const tool = process.env.OBER_MKOSI ?? (await which('mkosi'));
  if (!tool) throw new MkosiVersionError(undefined);
  const r = await run([tool, '--version'], { allowFailure: true });
  const v = parseMkosiVersion(r.stdout);
  if (!v || v.major < MKOSI_MIN_VERSION) throw new MkosiVersionError(v?.text ?? `${tool} (version unreadable: ${(r.stdout || r.stderr).trim().slice(0, 80)})`);
  return tool;
}

/** `mkosi -C DIR --output-directory OUT build`, its output streamed to stderr (a long build). */
export function mkosiBuildArgv(mkosi: string, projectDir: string, outDir: string): string[] {
  return [mkosi, '--directory', projectDir, '--output-directory', path.resolve(outDir), 'build'];
}

export async function runMkosiBuild(mkosi: string, projectDir: string, outDir: string): Promise<void> {
  await run(mkosiBuildArgv(mkosi, projectDir, outDir), { inherit: true });
}
