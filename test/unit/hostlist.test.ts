import { describe, expect, it } from 'vitest';
import { parseAddressList, parseServerList } from '../../firstboot/model/addresses.js';
import { expandHostlist, HostlistError, MAX_HOSTLIST_EXPANSION } from '../../firstboot/model/hostlist.js';

describe('hostlist expansion', () => {
  it.each([
    ['rgw[01-04].example.com', ['rgw01.example.com', 'rgw02.example.com', 'rgw03.example.com', 'rgw04.example.com']],
    ['10.0.0.[1-3]', ['10.0.0.1', '10.0.0.2', '10.0.0.3']],
    ['a[1,3,5-6]', ['a1', 'a3', 'a5', 'a6']],
    ['h[1-2]x[1-2]', ['h1x1', 'h1x2', 'h2x1', 'h2x2']],
    ['a, b ,c', ['a', 'b', 'c']],
    ['n[8-10]', ['n8', 'n9', 'n10']],
    ['n[08-10]', ['n08', 'n09', 'n10']],
    ['10.0.[0-1].0/24, 10.9.0.1', ['10.0.0.0/24', '10.0.1.0/24', '10.9.0.1']],
  ])('%s', (input, expected) => {
    expect(expandHostlist(input)).toEqual(expected);
  });

  it('takes a list of hostlists', () => {
    expect(expandHostlist(['a[1-2]', 'b'])).toEqual(['a1', 'a2', 'b']);
  });

  it.each(['a[1-2', 'a1-2]', 'a[2-1]', 'a[x-y]', 'a,,b', 'a,', '[1-2', `a[1-${MAX_HOSTLIST_EXPANSION + 1}]`, 'a[1-100]b[1-100]'])('refuses %s', (bad) => {
    expect(() => expandHostlist(bad)).toThrow(HostlistError);
  });

  // Each of these used to loop forever or allocate before the cap was checked.
  it.each([
    ['a bound at 2^53', 'h[9007199254740990-9007199254740993]', /bound above 999999999/],
    ['a bound of 400 digits', `h[1-${'9'.repeat(400)}]`, /bound above/],
    ['many small ranges in one bracket', `h[${Array.from({ length: 300 }, (_, i) => `${i * 100}-${i * 100 + 99}`).join(',')}]`, /larger than 4096/],
    ['two brackets whose product is large', 'h[1-4096]x[1-4096]', /more than 4096 names/],
    ['many items, each under the cap', Array.from({ length: 3 }, (_, i) => `h${i}[1-2000]`).join(','), /more than 4096 items/],
  ])('refuses %s before expanding it, in milliseconds', (_name, bad, message) => {
    const started = performance.now();
    expect(() => expandHostlist(bad)).toThrow(message);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('address and server lists', () => {
  it('types entries and refuses networks with host bits', () => {
    const ok = parseAddressList('10.0.0.0/8, 10.1.2.3, rgw1.example.com, rgw1.example.com');
    expect(ok).toEqual({
      ok: true,
      value: [
        { kind: 'cidr', value: '10.0.0.0/8' },
        { kind: 'ip', value: '10.1.2.3' },
        { kind: 'name', value: 'rgw1.example.com' },
      ],
    });
    const bad = parseAddressList('10.0.0.1/8, 999.1.1.1, -bad-');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors).toHaveLength(3);
  });

  it('parses host:port with a default port and refuses duplicates', () => {
    expect(parseServerList('rgw[1-2].example.com:7480, 10.0.0.5', 80)).toEqual({
      ok: true,
      value: [
        { host: 'rgw1.example.com', hostKind: 'name', port: 7480 },
        { host: 'rgw2.example.com', hostKind: 'name', port: 7480 },
        { host: '10.0.0.5', hostKind: 'ip', port: 80 },
      ],
    });
    const dup = parseServerList(['10.0.0.5:80', '10.0.0.5'], 80);
    expect(dup.ok).toBe(false);
  });
});
