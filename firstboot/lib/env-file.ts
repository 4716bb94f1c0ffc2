// `KEY=value` lines (systemd EnvironmentFile=, exabgp.env) → an environment. Blank lines and `#`
// comments are skipped; the value is the rest of the line after the first `=`. The rendered files
// never quote values, so no quoting rules are applied.
export function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
  );
}
