// Errors of the data layer carry a stable code (the same codes `validateDataset` reports), so
// callers and the CLI can branch on `err.code` instead of parsing messages.

/** Stable codes used by errors and validation problems of the data layer (the one VNET_E_*
 * family of the whole package, from native errors to the CLI). */
export const DATA_ERROR_CODES = [
  'VNET_E_NO_DATASET_JSON',
  'VNET_E_BAD_JSON',
  'VNET_E_MISSING_KEY',
  'VNET_E_MISSING_FILE',
  'VNET_E_CORRUPT_FILE',
  'VNET_E_UNSUPPORTED',
  'VNET_E_SHAPE_MISMATCH',
  'VNET_E_LABEL_VALUES',
  'VNET_E_NONFINITE',
  'VNET_E_DUPLICATE_CASE',
  'VNET_E_NO_CASES',
  'VNET_E_DOWNLOAD',
  'VNET_E_CHECKSUM',
  'VNET_E_SIZE',
  'VNET_E_DATA_EXISTS',
  'VNET_E_INVALID_DATASET',
  'VNET_E_BAD_ARGUMENT',
  'VNET_E_NOT_A_FILE',
  'VNET_E_TOO_LARGE',
  'VNET_E_GEOMETRY',
  'VNET_E_UNSAFE_OUTPUT',
  'VNET_E_CHANNEL_COUNT',
  // DICOM series (src/data/dicom): each names the file at fault.
  'VNET_E_NOT_DICOM',
  'VNET_E_EMPTY_FOLDER',
  'VNET_E_MIXED_SERIES',
  'VNET_E_GANTRY_TILT',
  'VNET_E_DUPLICATE_SLICE',
  'VNET_E_MISSING_SLICE',
  'VNET_E_WRITE',
  // predict -i: an input that is neither a NIfTI file nor a DICOM series.
  'VNET_E_NOT_IMAGE',
] as const;
export type DataErrorCode = (typeof DATA_ERROR_CODES)[number];
const dataCodes: ReadonlySet<string> = new Set(DATA_ERROR_CODES);

/** An error from the data layer: `code` is stable, `file` names the offending file if any. */
export class DataError extends Error {
  readonly code: DataErrorCode;
  readonly file?: string;
  /** The message without the code and file prefix. */
  readonly detail: string;
  constructor(code: DataErrorCode, message: string, file?: string) {
    super(file ? `${code} ${file}: ${message}` : `${code}: ${message}`);
    this.name = 'DataError';
    this.code = code;
    this.file = file;
    this.detail = message;
  }
}

/** True when `e` is a DataError (also across worker boundaries, where only fields survive). */
export function isDataError(e: unknown): e is DataError {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    && dataCodes.has((e as { code: string }).code);
}

/** One finding of dataset validation. Codes are stable: VNET_E_* are errors, VNET_W_* warnings. */
export interface Problem {
  code: string;
  file?: string;
  message: string;
}
