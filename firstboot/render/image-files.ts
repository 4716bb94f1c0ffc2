import type { RenderedFile } from './files.js';

/**
 * Files that are the same on every node and are baked into the image at build time: the ober-*
 * systemd units, the watchdog drop-in, the VRRP notify script. (Being filled in by the renderer
 * work; the signature is final.)
 */
export function renderImageFiles(): RenderedFile[] {
  return [];
}
