// Metadata documents that are YAML but not a mapping are refused with a ProblemError-style
// message, never an exception from the YAML library (the fuzzer found `#cloud-config\n*o`).
import { describe, expect, it } from 'vitest';
import { parseYamlMapping } from '../../../firstboot/metadata/documents.js';
import { OberError } from '../../../firstboot/lib/errors.js';

describe('parseYamlMapping', () => {
  it.each(['#cloud-config\n*o', '*a', '- *x\n'])('refuses %j with a clear error', (text) => {
    let caught: unknown;
    try {
      parseYamlMapping(text, 'vendor-data');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(OberError);
    expect(String((caught as Error).message)).toContain('vendor-data');
  });
});
