/**
 * The `yaml` package, loaded on first use: it is some seventy CommonJS modules (~50 ms of
 * start-up), and a rerun of a cached, unchanged pipeline neither parses nor writes YAML.
 * Type-only imports from 'yaml' are fine anywhere; values come from here.
 */
import { createRequire } from 'node:module';

export type YamlLib = typeof import('yaml');

let lib: YamlLib | undefined;

export function yaml(): YamlLib {
  lib ??= createRequire(import.meta.url)('yaml') as YamlLib;
  return lib;
}
