#!/usr/bin/env node
// The admin tool. `npm run build` bundles builder/ into dist/ober.mjs.
import '../dist/ober.mjs';
