/** The package's version, read from its package.json (one place to bump it). */
import { createRequire } from 'node:module';

// dist/version.js and src/version.ts both sit one folder below package.json.
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
