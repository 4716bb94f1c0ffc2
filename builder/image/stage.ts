// Cached pipeline stages. A stage is `{ name, inputs, run }`: its inputs (canonical JSON → sha256)
// are the cache key; `run` fills a temporary directory that is renamed into the cache on success,
// so an interrupted stage never leaves a half-written entry behind.
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson, sha256, type Json } from './canonical.js';

export interface Stage {
  name: string;
  /** Everything that shapes the output, including the keys of the stages it consumes. */
  inputs: Record<string, Json>;
  /** The external commands the stage will run, for --plan (argv arrays; some are indicative). */
  commands: string[][];
  /** Fill `outDir`; `log` shows progress (e.g. package by package) while it runs. */
  run(outDir: string, log: StageLog): Promise<void>;
}

export interface StageResult {
  name: string;
  key: string;
  dir: string;
  cached: boolean;
  seconds: number;
}

export interface StageLog {
  /** `transient`: a routine update (a package, a byte count) a log file may thin out. */
  info(msg: string, note?: { transient?: boolean }): void;
}

/** Entries kept per stage: the current one and the previous (for a quick switch back). */
const KEEP_ENTRIES = 2;
const INPUTS_FILE = '.inputs.json';

export function stageKey(stage: Pick<Stage, 'name' | 'inputs'>): string {
  return sha256(canonicalJson({ stage: stage.name, inputs: stage.inputs }));
}

export class StageCache {
  constructor(readonly root: string) {}

  dir(name: string, key: string): string {
    return path.join(this.root, name, key.slice(0, 16));
  }

  async has(stage: Stage): Promise<boolean> {
    return exists(path.join(this.dir(stage.name, stageKey(stage)), INPUTS_FILE));
  }

  /** Why the stage will run: which inputs differ from the most recent cached entry. */
  async missReason(stage: Stage): Promise<string> {
    const previous = await this.latestInputs(stage.name);
    if (!previous) return 'no cached entry';
    const changed = Object.keys({ ...previous, ...stage.inputs }).filter(
      (k) => canonicalJson(previous[k]) !== canonicalJson(stage.inputs[k]),
    );
    return changed.length ? `changed: ${changed.join(', ')}` : 'cached entry incomplete';
  }

  async run(stage: Stage, log: StageLog, opts: { force?: boolean } = {}): Promise<StageResult> {
    const key = stageKey(stage);
    const dir = this.dir(stage.name, key);
    const t0 = performance.now();
    if (!opts.force && (await this.has(stage))) {
      log.info(`cache hit ${key.slice(0, 16)}`);
      const now = new Date();
      await utimes(path.join(dir, INPUTS_FILE), now, now); // most recently used: kept by prune()
      return { name: stage.name, key, dir, cached: true, seconds: 0 };
    }
    log.info(`cache miss (${opts.force ? 'forced' : await this.missReason(stage)}), running`);
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    try {
      await stage.run(tmp, log);
      await writeFile(path.join(tmp, INPUTS_FILE), canonicalJson(stage.inputs, 2) + '\n');
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    await this.prune(stage.name, dir);
    return { name: stage.name, key, dir, cached: false, seconds };
  }

  private async entries(name: string): Promise<{ dir: string; mtime: number }[]> {
    const base = path.join(this.root, name);
    const names = await readdir(base).catch(() => [] as string[]);
    const found: { dir: string; mtime: number }[] = [];
    for (const n of names.filter((x) => !x.includes('.tmp-'))) {
      const s = await stat(path.join(base, n, INPUTS_FILE)).catch(() => undefined);
      if (s) found.push({ dir: path.join(base, n), mtime: s.mtimeMs });
    }
    return found.sort((a, b) => b.mtime - a.mtime);
  }

  private async latestInputs(name: string): Promise<Record<string, Json> | undefined> {
    const [latest] = await this.entries(name);
    if (!latest) return undefined;
    return JSON.parse(await readFile(path.join(latest.dir, INPUTS_FILE), 'utf8')) as Record<string, Json>;
  }

  private async prune(name: string, keep: string): Promise<void> {
    const old = (await this.entries(name)).filter((e) => e.dir !== keep).slice(KEEP_ENTRIES - 1);
    for (const e of old) await rm(e.dir, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
