/** A file the renderer produces, as it will lie on the node (absolute path inside the node's root). */
export interface RenderedFile {
  path: string;
  /** Unix permission bits, e.g. 0o644; secrets are 0o600. */
  mode: number;
  content: string;
}
