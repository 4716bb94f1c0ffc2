import pkg from '../package.json' with { type: 'json' };

/** The version of this program (package.json), stamped into the bundles. */
export const OBER_VERSION: string = pkg.version;
