// Text imports (`import text from './file.hbs?raw'`): vitest (vite) serves them natively and
// scripts/bundle.mjs inlines them, so the node program is one file with its templates inside.
declare module '*?raw' {
  const text: string;
  export default text;
}
