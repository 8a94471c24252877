import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { isSha256, type Sha256 } from './sha256.js';

/** Every `objects/<xx>/<sha256>` file (anything else there is ignored). */
export async function listObjects(objectsDir: string): Promise<{ hash: Sha256; path: string }[]> {
  const out: { hash: Sha256; path: string }[] = [];
  let shards: string[];
  try {
    shards = await fsp.readdir(objectsDir);
  } catch {
    return out;
  }
  for (const shard of shards.sort()) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    let names: string[];
    try {
      names = await fsp.readdir(path.join(objectsDir, shard));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (isSha256(name) && name.startsWith(shard)) out.push({ hash: name, path: path.join(objectsDir, shard, name) });
    }
  }
  return out;
}
