// Bounds on a YAML text's shape, checked in one linear pass before the parser sees it. The yaml
// library parses nesting recursively and its cost grows faster than the depth: 1000 nested `[`
// overflow its stack, and 2 MB of them kept `ober validate` busy for 40 s. Cluster files and node
// data nest about six levels deep, so any bound far above that costs a real document nothing.

/** Deepest flow nesting (`[` and `{`) accepted. */
export const MAX_FLOW_DEPTH = 64;
/** Widest indentation accepted, in columns: block nesting needs one more indent per level. */
export const MAX_INDENT = 256;
/** Most `- ` indicators opening one line (`- - - x` nests a sequence per dash). */
export const MAX_LINE_INDICATORS = 32;

/**
 * The first bound the text breaks, in words, or undefined. Brackets are counted without regard
 * to quoting: that can only overcount, and no valid cluster document has 64 unclosed brackets
 * even inside its strings (the schema admits `[` only in hostlists, which cannot nest).
 */
export function yamlShapeProblem(text: string): string | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart) {
      if (c === 32) {
        if (++indent > MAX_INDENT) return `line ${line} is indented more than ${MAX_INDENT} columns (nesting far deeper than any cluster document)`;
        continue;
      }
      lineStart = false;
      if (c === 45 /* - */) {
        // Count `- ` indicators at the start of the line: each one opens a nested sequence.
        let n = 0;
        let j = i;
        while (text.charCodeAt(j) === 45 && (text.charCodeAt(j + 1) === 32 || text.charCodeAt(j + 1) === 10)) {
          n++;
          j += 2;
          while (text.charCodeAt(j) === 32) j++;
        }
        if (n > MAX_LINE_INDICATORS) return `line ${line} opens ${n} nested sequences ('- - - ...'; at most ${MAX_LINE_INDICATORS})`;
      }
    }
    if (c === 91 || c === 123) {
      if (++depth > MAX_FLOW_DEPTH) return `line ${line} nests [ and { more than ${MAX_FLOW_DEPTH} levels deep`;
    } else if ((c === 93 || c === 125) && depth > 0) depth--;
  }
  return undefined;
}
