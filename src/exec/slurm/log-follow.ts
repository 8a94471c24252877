/**
 * Under Slurm the stage's stdout goes to its log file, protocol lines included: the coordinator
 * follows the file for `::vpt::` progress lines and, at the end, reads its tail without them.
 */
import { open } from 'node:fs/promises';
import { decodeChildMessage, isProtocolLine } from '../protocol.js';
import type { ProgressUpdate } from '../../stages/kind.js';

/** Reads what was appended since the last call; complete lines only. */
export class LogFollower {
  private offset = 0;
  private partial = '';

  constructor(private readonly file: string) {}

  /** Progress updates in the new lines (the log may not exist yet: then none). */
  async poll(): Promise<ProgressUpdate[]> {
    const updates: ProgressUpdate[] = [];
    let fh;
    try {
      fh = await open(this.file, 'r');
    } catch {
      return updates;
    }
    try {
      // Bounded per call: a stage that prints megabytes cannot stall the poller.
      const buf = Buffer.alloc(1 << 20);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) return updates;
      this.offset += bytesRead;
      const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = decodeChildMessage(line);
        if (m?.type === 'progress') updates.push(m.update);
      }
      return updates;
    } finally {
      await fh.close();
    }
  }
}

/** The last `count` ordinary lines of a log (protocol lines left out). */
export async function readTail(file: string, count = 20): Promise<string[]> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n');
    // The first line may be cut in the middle when the window starts inside it.
    if (length < size) lines.shift();
    return lines.filter((l) => l.length > 0 && !isProtocolLine(l)).slice(-count);
  } finally {
    await fh.close();
  }
}
