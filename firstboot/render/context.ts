import type { Layout } from '../model/layout.js';
import type { Target } from './target.js';

/** Everything a renderer needs besides the node: where files live, what they run on, a header line. */
export interface RenderContext {
  layout: Layout;
  target: Target;
  /** First comment line of every generated file. */
  header: string;
}

/** ms → the shortest HAProxy duration that says the same. */
export function duration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
