/** The data family: sources to task shards (see src/io/shards.ts for the format). */
import type { StageKind } from '../kind.js';
import { vtab1kKind } from './vtab1k.js';
import { imageFolderKind } from './imagefolder.js';
import { idxKind } from './idx-kind.js';
import { miniVtabKind } from './mini-vtab.js';

export { vtab1kKind, checkVtabRoot, findVtabFolders, readVtabTaskFolder, buildVtabTask, type Vtab1kParams, type VtabFolder } from './vtab1k.js';
export { VTAB_TASKS, VTAB_LIST_FILES, IMAGENET_NORMALIZATION, findVtabTask, type VtabTask } from './tasks.js';
export { parseListFile, readListFile, type ListEntry } from './listfile.js';
export { parseIdx, readIdx, readIdxPair, type IdxArray, type IdxDataset } from './idx.js';
export { loadFashionMnist, checkFashionMnist, checkIdxFiles, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, INSTALL_HINT, type FashionMnist } from './fashion-mnist.js';
export { planVariants, drawTrainVal, drawOneShot, permutation, checkSizes, type SplitPlan, type VariantOptions } from './splits.js';
export { createDecodePool, type DecodePool, type DecodeRequest, type DecodedImage, type ResizeKernel } from './decode.js';
export { writeMemoryTask, writeFileTask, taskJson, type MemorySplit, type FileItem, type FileTaskPlan, type TaskMetaBase } from './write-task.js';
export { dataError, formatDataError, DataStageError, type DataError, type DataErrorReason } from './errors.js';

export { imageFolderKind, listImageFolder, buildImageFolderTask, IMAGE_EXTENSIONS, type ImageFolderParams } from './imagefolder.js';
export { idxKind, buildIdxTask, type IdxParams } from './idx-kind.js';
export { miniVtabKind, buildMiniSuite, selectMiniTasks, MINI_DEFAULTS, MINI_GENERATOR_VERSION, type MiniVtabParams, type MiniBuildOptions } from './mini-vtab.js';
export { MINI_TASKS, PRETRAIN_CLASSES, HELDOUT_CLASSES, type MiniTaskSpec } from './mini/suite.js';

export const dataKinds: readonly StageKind<never>[] = [
  vtab1kKind as StageKind<never>,
  imageFolderKind as StageKind<never>,
  idxKind as StageKind<never>,
  miniVtabKind as StageKind<never>,
];
