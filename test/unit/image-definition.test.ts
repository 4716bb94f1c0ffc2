import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadImageDefinition } from '../../builder/image/definition.js';
import { deriveIdentifiers } from '../../builder/image/identifiers.js';
import { computeLayout, SECTOR } from '../../builder/image/layout.js';
import { artifactNames } from '../../builder/image/plan.js';
import { sfdiskScript } from '../../builder/image/stages/assemble.js';
import { definitionIssues } from '../helpers/image-definition.js';

const debianDoc = (): Record<string, unknown> => parse(readFileSync('image/debian-12.yaml', 'utf8')) as Record<string, unknown>;

const issuesOf = definitionIssues;

describe('image definitions', () => {
  it.each(['debian-12', 'rocky-10', 'alma-10'])('%s.yaml is valid', async (name) => {
    const def = await loadImageDefinition(`image/${name}.yaml`);
    expect(def.packages).toContain('haproxy');
    expect(def.disk.partitions.at(-1)?.role).toBe('var');
  });

  it('reports every problem with its path', () => {
    const doc = { ...debianDoc(), version: '1.0', haproxy: { flavour: 'aws-lc' }, kernelCommandLine: ['quiet', 'a b'] };
    const issues = issuesOf(doc);
    expect(issues.some((i) => i.startsWith('version:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('haproxy.flavour:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('kernelCommandLine[1]:'))).toBe(true);
  });

  it('requires /var to be the last partition, so growpart can grow it', () => {
    const doc = debianDoc();
    const disk = doc.disk as { partitions: { name: string; role: string; sizeMiB?: number }[] };
    const [bios, esp, root, v] = disk.partitions;
    const swapped = { ...doc, disk: { ...disk, partitions: [bios, esp, { ...v, sizeMiB: 100 }, { ...root, sizeMiB: undefined }] } };
    expect(issuesOf(swapped).join('\n')).toMatch(/var partition must be last/);
  });

  it('refuses fixed partitions that leave no room for /var', () => {
    const doc = debianDoc();
    expect(issuesOf({ ...doc, disk: { ...(doc.disk as object), sizeMiB: 1300 } }).join('\n')).toMatch(/disk\.sizeMiB: too small/);
  });
});

describe('derived identifiers and layout', () => {
  it('derives stable UUIDs from id and version, different per version', async () => {
    const def = await loadImageDefinition('image/debian-12.yaml');
    const a = deriveIdentifiers(def);
    expect(deriveIdentifiers(def)).toEqual(a);
    expect(a.rootFsUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set([a.rootFsUuid, a.varFsUuid, a.diskGuid, ...Object.values(a.partitionUuids)]).size).toBe(7);
    expect(a.espFsUuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    const next = deriveIdentifiers({ ...def, version: '0.1.1' });
    expect(next.rootFsUuid).not.toBe(a.rootFsUuid);
  });

  it('lays partitions out MiB-aligned, /var last up to 1 MiB before the end', async () => {
    const def = await loadImageDefinition('image/debian-12.yaml');
    const layout = computeLayout(def);
    const mib = 2048;
    expect(layout.partitions.map((p) => [p.name, p.startSector % mib])).toEqual([['bios', 0], ['esp', 0], ['root', 0], ['var', 0]]);
    for (let i = 1; i < layout.partitions.length; i++) {
      const prev = layout.partitions[i - 1]!;
      expect(layout.partitions[i]!.startSector).toBe(prev.startSector + prev.sectors);
    }
    const last = layout.partitions.at(-1)!;
    expect((last.startSector + last.sectors) * SECTOR).toBe(layout.sizeBytes - 1024 * 1024);
    const script = sfdiskScript(layout, deriveIdentifiers(def));
    expect(script).toContain('type=4D21B016-B534-45C2-A9FB-5C16E091FD2D'); // Linux /var
    expect(script.split('\n').filter((l) => l.startsWith('start='))).toHaveLength(4);
  });

  it('names artifacts <image-id>_<version>', async () => {
    const def = await loadImageDefinition('image/debian-12.yaml');
    expect(artifactNames(def).qcow2).toBe('herr-ober-debian-12_0.1.0.qcow2');
  });
});
