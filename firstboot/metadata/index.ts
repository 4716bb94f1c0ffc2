// Node metadata: where a node's cloud-init data comes from, and what its network files are.
export { readMetadata, MetadataNotFoundError, type ReadMetadataOptions } from './read-metadata.js';
export type { NodeMetadata, OberData, NetworkConfigDoc, MetadataSource } from './metadata.js';
export { IsoImage, readVolumeLabel, withFileSource, bufferSource, type ByteSource, type IsoEntry } from './iso9660.js';
export { MAX_FILE_BYTES } from './tree.js';
