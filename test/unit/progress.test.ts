// Progress of long work: plain timestamped lines off a terminal (chatty updates thinned), listr2's
// renderer on one; both on the stream given (stderr), and the work's error passed through unchanged.
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AptProgress } from '../../builder/image/apt-progress.js';
import { createProgress } from '../../firstboot/lib/progress.js';

function sink(tty = false, columns = 100): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(s, { isTTY: tty, columns, rows: 30 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

describe('plain progress lines (not a terminal)', () => {
  it('stamps each line, names the step, closes each step with its time, thins transient updates', async () => {
    let t = Date.parse('2026-12-02T10:00:00Z');
    const { stream, text } = sink();
    const p = createProgress({ stream, renderer: 'lines', now: () => new Date(t), transientMs: 5000 });
    const r = await p.steps(['rootfs', 'customize'], async (log) => {
      log('rootfs', 'downloading packages');
      for (let i = 1; i <= 10; i++) {
        t += 1000;
        log('rootfs', `set up ${i} packages`, { transient: true });
      }
      log('customize', 'copying overlays');
      t += 2500;
      return 42;
    });
    expect(r).toBe(42);
    expect(text().split('\n').filter(Boolean)).toEqual([
      '10:00:00 rootfs: downloading packages',
      // 5 s after the last line shown: 1 to 4 are thinned out, as are 6 to 9
      '10:00:05 rootfs: set up 5 packages',
      '10:00:10 rootfs: set up 10 packages',
      '10:00:10 rootfs: done (10.0 s)',
      '10:00:10 customize: copying overlays',
      '10:00:12 customize: done (2.5 s)',
    ]);
  });

  it('marks the step that was running as failed and rethrows the error itself', async () => {
    const { stream, text } = sink();
    const boom = new Error('boom');
    const p = createProgress({ stream, renderer: 'lines' });
    await expect(p.steps(['a', 'b'], async (log) => (log('a', 'x'), log('b', 'y'), Promise.reject(boom)))).rejects.toBe(boom);
    expect(text()).toMatch(/ a: done .*\n.* b: y\n.* b: FAILED/);
  });

  it('--quiet prints nothing and still runs the work', async () => {
    const { stream, text } = sink();
    expect(await createProgress({ stream, quiet: true }).steps(['a'], async (log) => (log('a', 'x'), 'ok'))).toBe('ok');
    expect(text()).toBe('');
  });
});

describe('listr2 progress (a terminal)', () => {
  it('a terminal of no size (an unsized pty) gets the plain lines, not a renderer that truncates to nothing', async () => {
    const { stream, text } = sink(true, 0);
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      await createProgress({ stream }).steps(['ober1'], async (log) => {
        log('ober1', 'cloning VM 2101');
      });
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
    expect(text()).toMatch(/^\d\d:\d\d:\d\d ober1: cloning VM 2101$/m);
  });

  it('draws every step on the given stream, with the latest message and the time taken', async () => {
    const { stream, text } = sink(true);
    const p = createProgress({ stream, renderer: 'tty' });
    await p.steps(['ober1', 'ober2'], async (log) => {
      log('ober1', 'cloning VM 2101');
      await new Promise((r) => setTimeout(r, 150));
      log('ober2', 'waiting for the /health gate');
      await new Promise((r) => setTimeout(r, 150));
    });
    const plain = stripVTControlCharacters(text());
    expect(plain).toMatch(/ober1/);
    expect(plain).toMatch(/cloning VM 2101/);
    expect(plain).toMatch(/waiting for the \/health gate/);
    expect(plain).toMatch(/✔ ober2 \(\d+\.\d s\)/);
  });
});

describe("mmdebstrap's output as package progress", () => {
  it('reports phases always, and downloads (with bytes), unpacks and set-ups as transient counts', () => {
    const apt = new AptProgress();
    const lines = [
      'I: downloading packages with apt...',
      'Get:1 http://deb.debian.org/debian trixie/main amd64 libc6 amd64 2.41-12 [2,860 kB]',
      'Get:2 http://deb.debian.org/debian trixie/main amd64 haproxy amd64 3.0.11-1 [2.5 MB]',
      'Unpacking libc6:amd64 (2.41-12) ...',
      'Setting up haproxy (3.0.11-1) ...',
      'Processing triggers for man-db (2.13.1-1) ...',
    ].map((l) => apt.line(l));
    expect(lines).toEqual([
      { text: 'downloading packages with apt', transient: false },
      { text: 'downloaded 1 packages, 2.9 MB: libc6', transient: true },
      { text: 'downloaded 2 packages, 5.4 MB: haproxy', transient: true },
      { text: 'unpacked 1 packages: libc6', transient: true },
      { text: 'set up 1 packages: haproxy', transient: true },
      undefined,
    ]);
  });
});

describe('listr2 progress with overlapping work', () => {
  it('a late message for a step already ended is dropped, not written into the finished task', async () => {
    const { stream, text } = sink(true);
    await createProgress({ stream, renderer: 'tty' }).steps(['ober1', 'ober2'], async (log) => {
      log('ober1', 'cloning');
      log('ober2', 'cloning');
      await new Promise((r) => setTimeout(r, 100));
      log('ober1', 'waiting for the /health gate');
      await new Promise((r) => setTimeout(r, 100));
    });
    expect(stripVTControlCharacters(text())).toMatch(/✔ ober2/);
  });
});
