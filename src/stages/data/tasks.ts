/**
 * The 19 VTAB-1k tasks: class counts and groups (Zhai et al. 2019; the VPT / Han et al. protocol), and the
 * folder names the common on-disk release and its forks use for them.
 */
import type { TaskGroup } from '../../io/shards.js';

export interface VtabTask {
  /** Canonical name used for output task folders. */
  readonly name: string;
  readonly group: TaskGroup;
  readonly numClasses: number;
  /** Other folder names seen in releases (lower-cased, `-`/`/` folded to `_` before matching). */
  readonly aliases: readonly string[];
}

export const VTAB_TASKS: readonly VtabTask[] = [
  { name: 'cifar100', group: 'natural', numClasses: 100, aliases: ['cifar', 'cifar_100', 'cifar100_1k'] },
  { name: 'caltech101', group: 'natural', numClasses: 102, aliases: ['caltech', 'caltech_101'] },
  { name: 'dtd', group: 'natural', numClasses: 47, aliases: ['dtd_1k', 'textures'] },
  { name: 'oxford_flowers102', group: 'natural', numClasses: 102, aliases: ['flowers102', 'oxford_flowers', 'flowers', 'flower102'] },
  { name: 'oxford_iiit_pet', group: 'natural', numClasses: 37, aliases: ['pets', 'oxford_pet', 'oxford_pets', 'pet', 'oxford_iiit_pets'] },
  { name: 'svhn', group: 'natural', numClasses: 10, aliases: ['svhn_cropped'] },
  { name: 'sun397', group: 'natural', numClasses: 397, aliases: ['sun', 'sun_397'] },
  { name: 'patch_camelyon', group: 'specialized', numClasses: 2, aliases: ['pcam', 'patchcamelyon', 'camelyon'] },
  { name: 'eurosat', group: 'specialized', numClasses: 10, aliases: ['euro_sat'] },
  { name: 'resisc45', group: 'specialized', numClasses: 45, aliases: ['resisc', 'resisc_45'] },
  { name: 'diabetic_retinopathy', group: 'specialized', numClasses: 5, aliases: ['retinopathy', 'diabetic_retinopathy_detection', 'dr'] },
  { name: 'clevr_count', group: 'structured', numClasses: 8, aliases: ['clevr_count_all', 'clevr_count_1k'] },
  { name: 'clevr_dist', group: 'structured', numClasses: 6, aliases: ['clevr_closest_object_distance', 'clevr_distance'] },
  { name: 'dmlab', group: 'structured', numClasses: 6, aliases: ['dm_lab'] },
  { name: 'kitti', group: 'structured', numClasses: 4, aliases: ['kitti_dist', 'kitti_distance', 'kitti_closest_vehicle_distance'] },
  { name: 'dsprites_loc', group: 'structured', numClasses: 16, aliases: ['dsprites_location', 'dsprites_label_x_position', 'dsprites_xpos'] },
  { name: 'dsprites_ori', group: 'structured', numClasses: 16, aliases: ['dsprites_orientation', 'dsprites_label_orientation'] },
  { name: 'smallnorb_azi', group: 'structured', numClasses: 18, aliases: ['smallnorb_azimuth', 'smallnorb_label_azimuth', 'smallnorb_azim'] },
  { name: 'smallnorb_ele', group: 'structured', numClasses: 9, aliases: ['smallnorb_elevation', 'smallnorb_label_elevation', 'smallnorb_elev'] },
];

function fold(name: string): string {
  return name.trim().toLowerCase().replace(/[-/\s.]+/g, '_');
}

const BY_NAME = new Map<string, VtabTask>();
for (const t of VTAB_TASKS) {
  BY_NAME.set(fold(t.name), t);
  for (const a of t.aliases) BY_NAME.set(fold(a), t);
}

/** Finds a task by canonical name, folder name or alias (case, `-`, `/` and `.` insensitive). */
export function findVtabTask(name: string): VtabTask | undefined {
  return BY_NAME.get(fold(name));
}

/** The VTAB-1k list files, in the order they are read. */
export const VTAB_LIST_FILES = ['train800', 'val200', 'train800val200', 'test'] as const;
export type VtabListSplit = (typeof VTAB_LIST_FILES)[number];

/** ImageNet statistics, applied as (x/255 - mean)/std (torchvision's values). */
export const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;
