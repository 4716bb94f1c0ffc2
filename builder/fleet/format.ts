// The fleet view as text: one table row per node, then each VIP's holders, the flags and the
// latest events. Colours come from the caller (picocolors, off when not a terminal).
import type { FleetView } from './analyze.js';

interface Colors {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

/** Columns padded to the widest cell (ANSI codes are added after padding). */
function table(head: string[], rows: string[][]): string[] {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i] ?? 0)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

export function formatFleet(v: FleetView, c: Colors, opts: { events?: number } = {}): string[] {
  const out: string[] = [];
  const state = v.splitBrain ? c.red(c.bold('SPLIT BRAIN')) : v.ok ? c.green('ok') : c.yellow('attention');
  out.push(`cluster ${v.cluster} (${v.mode}), ${v.nodes.length} nodes, at ${v.at}: ${state}`);
  const bgp = v.mode === 'bgp';
  const head = ['NODE', 'ADDRESS', 'IMAGE', 'FIRST BOOT', 'HAPROXY', 'BACKENDS', bgp ? 'ANNOUNCES' : 'HOLDS', ...(bgp ? ['BGP', 'BFD'] : ['VRRP']), 'HEALTH'];
  const rows = v.nodes.map((n) => {
    if (!n.reachable) return [n.node, n.address, '-', '-', '-', '-', '-', ...(bgp ? ['-', '-'] : ['-']), 'UNREACHABLE'];
    const vrrp = n.vrrp ? Object.entries(n.vrrp) : [];
    const masters = vrrp.filter(([, s]) => s === 'MASTER').map(([k]) => k);
    const others = vrrp.filter(([, s]) => s !== 'MASTER');
    const vrrpCell = [masters.length ? `MASTER ${masters.join(',')}` : '', others.length ? `${others.every(([, s]) => s === 'BACKUP') ? 'BACKUP' : others.map(([k, s]) => `${k}:${s}`).join(',')} ×${others.length}` : '']
      .filter(Boolean)
      .join('; ');
    return [
      n.node,
      n.address,
      n.imageVersion ?? '?',
      n.firstboot ?? '?',
      n.haproxy ?? '?',
      `${n.backendsUp ?? 0}/${n.backendsTotal ?? 0}`,
      n.vips.join(',') || '-',
      ...(bgp ? [n.bgp ? `${n.bgp.established}/${n.bgp.total}` : '-', n.bfd ? `${n.bfd.up}/${n.bfd.total}` : '-'] : [vrrpCell || '-']),
      n.healthy ? 'healthy' : 'NOT healthy',
    ];
  });
  const lines = table(head, rows);
  out.push(c.bold(lines[0] ?? ''));
  lines.slice(1).forEach((l, i) => out.push(v.nodes[i]?.reachable === false || v.nodes[i]?.healthy === false ? c.yellow(l) : l));
  out.push('');
  for (const vip of v.vips) {
    const who = vip.holders.length ? vip.holders.join(', ') : 'nobody';
    const bad = (!bgp && vip.holders.length > 1) || vip.holders.length === 0 || vip.masters.length > 1;
    const text = `VIP ${vip.name} ${vip.address}${vip.vrid !== undefined ? ` (VRID ${vip.vrid})` : ''}: ${bgp ? 'announced by' : 'held by'} ${who}`;
    out.push(bad ? c.red(text) : text);
  }
  if (v.flags.length) {
    out.push('');
    for (const f of v.flags) out.push(`${f.splitBrain ? c.red('✗') : c.yellow('!')} ${f.splitBrain ? c.red(f.message) : f.message}`);
  }
  const n = opts.events ?? 5;
  if (n > 0 && v.events.length) {
    out.push('', c.dim('recent events:'));
    for (const e of v.events.slice(-n)) out.push(c.dim(`  ${e.at} ${e.node}: ${e.message}`));
  }
  return out;
}
