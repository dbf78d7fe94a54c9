// Errors of the data layer carry a stable code (the same codes `validateDataset` reports), so
// callers and the CLI can branch on `err.code` instead of parsing messages.

/** Stable codes used by errors and validation problems of the data layer. */
export type DataErrorCode =
  | 'E_NO_DATASET_JSON'
  | 'E_BAD_JSON'
  | 'E_MISSING_KEY'
  | 'E_MISSING_FILE'
  | 'E_CORRUPT_FILE'
  | 'E_UNSUPPORTED'
  | 'E_SHAPE_MISMATCH'
  | 'E_LABEL_VALUES'
  | 'E_NONFINITE'
  | 'E_DUPLICATE_CASE'
  | 'E_NO_CASES'
  | 'E_DOWNLOAD'
  | 'E_CHECKSUM'
  | 'E_SIZE'
  | 'E_DATA_EXISTS'
  | 'E_INVALID_DATASET'
  | 'E_BAD_ARGUMENT'
  | 'E_NOT_A_FILE'
  | 'E_TOO_LARGE'
  | 'E_GEOMETRY'
  | 'E_UNSAFE_OUTPUT';

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
    && String((e as { code: string }).code).startsWith('E_');
}

/** One finding of dataset validation. Codes are stable: E_* are errors, W_* warnings. */
export interface Problem {
  code: string;
  file?: string;
  message: string;
}
