// Public surface of the data layer: dataset.json parsing, NIfTI read/write, preprocessing and
// its inverse, the seeded Rng, augmentation, split, the batch loader, validation and download.

/** Errors with stable codes; validation problems. */
export { DataError, isDataError, type DataErrorCode, type Problem } from './errors.js';
/** Default data folder ($VNET_DATA_DIR or ../shared/data/Task04_Hippocampus), case ids. */
export { DATA_DIR_ENV, defaultDataDir, packageVersion, repoRoot, stripNiftiExt } from './paths.js';
/** Atomic writes (temporary file + rename). */
export { linkFileAtomicSync, writeFileAtomic, writeFileAtomicSync } from './atomic.js';
/** Bounded reads of regular files only, and the limits behind them. */
export { LIMITS, readJsonFile, readRegularFile } from './reader.js';
/** The output-path guard and a mkdir -p that cannot hang. */
export { checkOutputDir, checkOutputFile, makeDirs, realPathSoFar } from './outputs.js';
/** NIfTI header parsing and geometry. */
export { DATATYPES, dataOffset, niftiAffine, niftiShape, parseNiftiHeader, type NiftiHeader } from './nifti-header.js';
/** NIfTI reading into tensor order (x slowest, z fastest). */
export { readNifti, readNiftiBytes, readNiftiChannels, readNiftiHeader, readNiftiLabels, type NiftiVolume, type Shape3 } from './nifti.js';
/** A case's input channels (one 4-D file or one file per channel), checked against the count. */
export { checkChannelFile, geometryDiff, imageSource, readImageChannels, type ImageSource } from './channels.js';
/** Intensity normalisation per channel: z-score, CT (clip + global z-score), none; statistics. */
export { NORMALIZATION_CHOICES, channelSchemes, ctNorm, intensityStats, normalizeChannels, sampleForeground, zscoreInPlace, type ChannelNorm, type IntensityStats, type NormalizationChoice } from './intensity.js';
/** A per-image voxel budget checked from the header alone. */
export { checkVoxelBudget } from './budget.js';
/** Mask writing with the input's header and geometry. */
export { encodeMask, encodeProbabilities, writeMask, type MaskReference } from './nifti-write.js';
/** MSD / nnU-Net v2 dataset.json. */
export { inspectDataset, loadDataset, type DatasetFormat, type DatasetInspection, type DatasetSpec, type LabelClass } from './dataset.js';
/** Resampling with the reference's grid, and its inverse for predictions. */
export { argmaxChannels, resampleCubic, resampleLinear, resampleNearest, restoreLabels, type Outside } from './resample.js';
/** Per-case preprocessing: resample + z-score. */
export { DEFAULT_INPUT_SHAPE, prepareCase, prepareImage, preparedGrid, preprocessImage, preprocessLabel, type CaseRef, type InputSpec, type PreparedCase } from './preprocess.js';
/** The seeded generator behind every random draw. */
export { Rng, type RngState } from './rng.js';
/** Augmentation: the reference's flips of x and y, and the full mode's extras. */
export { NO_FLIPS, AUGMENT_MODES, applyAugment, copyFlipped, drawAugment, drawFlips, flipVolume, type AugmentMode, type Flips, type SampleAugment } from './augment.js';
/** Train / eval split and its record in the model folder. */
export { SPLIT_FILE, makeSplit, readSplit, writeSplit, type Split, type SplitFile, type SplitOptions } from './split.js';
/** Cross-validation folds. */
export { foldOf, foldSplit } from './folds.js';
/** Batches in worker threads. */
export { DEFAULT_FOREGROUND_OVERSAMPLE, Loader, type Batch, type LoaderMode, type LoaderOptions, type LoaderState } from './loader.js';
/** Dataset validation. */
export { formatProblems, validateDataset, type ValidateOptions, type ValidationResult } from './validate.js';
/** Download, tar extraction. */
export { DEFAULT_DATASET_URL, downloadDataset, type DownloadOptions, type DownloadProgress, type DownloadResult } from './download.js';
export { extractTar, type TarSummary } from './tar.js';
/** The dataset fingerprint (shapes, spacings, foreground intensities, class fractions) and the CT fit. */
export { fingerprintCases, fitIntensity, type CaseFingerprint, type Fingerprint } from './fingerprint.js';
/** Resampling to a common spacing: grids, nnU-Net's automatic target. */
export { ANISOTROPY_THRESHOLD, autoTargetSpacing, gridAt, readGrids, spacingOf, type Spacing } from './spacing.js';
/** The on-disk cache of preprocessed full-resolution cases, read per patch. */
export { CACHE_VERSION, DiskReader, cacheKey, diskCase, openDiskCase, writeDiskCase, type DiskCase } from './cache.js';
