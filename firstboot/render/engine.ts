// Handlebars, configured for config files: no HTML escaping (values were validated instead) and
// strict mode, so a template that names a missing view field fails loudly instead of printing ''.
import Handlebars from 'handlebars';

const hb = Handlebars.create();

export type Template<V> = (view: V) => string;

export function compile<V>(source: string): Template<V> {
  const fn = hb.compile(source, { noEscape: true, strict: true, knownHelpersOnly: true });
  return (view: V) => fn(view);
}
