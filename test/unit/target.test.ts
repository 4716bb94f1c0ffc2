// The HAProxy version a rendering is for, from what HAProxy or an image manifest says of itself.
import { describe, expect, it } from 'vitest';
import { atLeast, DEBIAN_12, DEBIAN_13, parseHaproxyVersion, withHaproxyVersion } from '../../firstboot/render/target.js';

describe('HAProxy version of the target', () => {
  it.each([
    ['HAProxy version 3.0.11-9e587df 2025/06/02 - https://haproxy.org/', [3, 0]],
    ['HAProxy version 2.6.12-1+deb12u4 2026/07/01 - https://haproxy.org/', [2, 6]],
    ['2.6.12-1+deb12u4', [2, 6]],
    ['3.0.11-9e587df', [3, 0]],
    ['3.2', [3, 2]],
    ['3.10.1', [3, 10]],
  ])('reads %s', (text, want) => {
    expect(parseHaproxyVersion(text)).toEqual(want);
  });

  it.each(['', 'latest', '9', 'v3', '3.x', 'haproxy: command not found', '123.4'])('refuses %j', (text) => {
    expect(parseHaproxyVersion(text)).toBeUndefined();
  });

  it('defaults: Debian 13 renders for 3.0, Debian 12 for 2.6; an image overrides', () => {
    expect(DEBIAN_13.haproxyVersion).toEqual([3, 0]);
    expect(DEBIAN_12.haproxyVersion).toEqual([2, 6]);
    expect(withHaproxyVersion(DEBIAN_13, [2, 6])).toEqual({ ...DEBIAN_13, haproxyVersion: [2, 6] });
    expect(atLeast([3, 0], [2, 6])).toBe(true);
    expect(atLeast([2, 6], [3, 0])).toBe(false);
    expect(atLeast([3, 2], [3, 2])).toBe(true);
    expect(atLeast([3, 1], [3, 2])).toBe(false);
  });
});
