/** Params pieces shared by the data kinds. */
import { isAbsolute } from 'node:path';
import type { StageContext } from '../kind.js';

export const pixelFormatSchema = { enum: ['uint8', 'float16', 'float32'], default: 'uint8' } as const;
export const sizesSchema = { type: 'array', items: { type: 'integer', minimum: 4, multipleOf: 4 }, default: [] } as const;
export const groupSchema = { enum: ['natural', 'specialized', 'structured'] } as const;

export function resolvePath(ctx: Pick<StageContext<unknown>, 'resolve'>, path: string): string {
  return isAbsolute(path) ? path : ctx.resolve(path);
}
