// Filesystem and partition identifiers derived from the image id and version, so two builds of the
// same image carry the same UUIDs (a condition for bit-identical disks) and two versions never collide.
import { sha256 } from './canonical.js';
import type { ImageDefinition } from './definition.js';

export interface ImageIdentifiers {
  diskGuid: string;
  /** GPT partition UUIDs by partition name. */
  partitionUuids: Record<string, string>;
  rootFsUuid: string;
  varFsUuid: string;
  /** FAT volume id (8 hex digits) and the UUID form GRUB/blkid show (XXXX-XXXX). */
  espVolumeId: string;
  espFsUuid: string;
}

export function deriveIdentifiers(def: ImageDefinition): ImageIdentifiers {
  const seed = (purpose: string): string => sha256(`${def.id}\0${def.version}\0${purpose}`);
  const espVolumeId = seed('esp-volume-id').slice(0, 8).toUpperCase();
  return {
    diskGuid: uuidFrom(seed('disk')),
    partitionUuids: Object.fromEntries(def.disk.partitions.map((p) => [p.name, uuidFrom(seed(`partition:${p.name}`))])),
    rootFsUuid: uuidFrom(seed('fs:root')),
    varFsUuid: uuidFrom(seed('fs:var')),
    espVolumeId,
    espFsUuid: `${espVolumeId.slice(0, 4)}-${espVolumeId.slice(4)}`,
  };
}

/** An RFC 9562 version 8 (name-based, custom hash) UUID from a hex digest. */
export function uuidFrom(hex: string): string {
  const b = Buffer.from(hex.slice(0, 32), 'hex');
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
