#!/usr/bin/env node
// The bundle `npm run build` makes (scripts/bundle.js): an entry and chunks loaded as commands need them.
import { main } from '../dist/bundle/main.js';

await main(process.argv);
