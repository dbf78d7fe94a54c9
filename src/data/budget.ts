// What one image may cost before any of it is decoded: its header (read from a bounded prefix,
// inflated only as far as the header) declares the voxels, and a request over the budget is
// refused before the body is inflated, resampled or segmented. A gzip body cannot hold more
// than deflate's largest ratio (1032:1) allows, so a header declaring more is refused too.
import { DataError } from './errors.js';
import { readNiftiHeader } from './nifti.js';
import { DATATYPES, dataOffset } from './nifti-header.js';

/** Deflate's largest expansion: 258 bytes per 2-bit code pair, about 1032:1. */
const DEFLATE_MAX_RATIO = 1032;

/**
 * Throws VNET_E_TOO_LARGE when the NIfTI in `src` declares more than `maxVoxels` voxels (every
 * volume counted), or VNET_E_CORRUPT_FILE when a gzip body is too small to hold what it declares.
 * `flag` names the setting to raise in the message.
 */
export function checkVoxelBudget(src: Uint8Array | string, maxVoxels: number, name?: string, flag = '--max_voxels'): void {
  const h = readNiftiHeader(src, name);
  const voxels = h.shape[0] * h.shape[1] * h.shape[2] * h.volumes;
  const what = `${h.shape.join('x')} x ${h.volumes} volume(s) = ${voxels} voxels`;
  if (voxels > maxVoxels) {
    throw new DataError('VNET_E_TOO_LARGE', `the header declares ${what}, over the ${maxVoxels} one image may cost (${flag})`, name);
  }
  if (typeof src !== 'string' && src[0] === 0x1f && src[1] === 0x8b) {
    const need = dataOffset(h.header) + voxels * DATATYPES[h.header.datatype].bytes;
    if (need > src.byteLength * DEFLATE_MAX_RATIO) {
      throw new DataError('VNET_E_CORRUPT_FILE', `${src.byteLength} gzip bytes cannot inflate to the ${need} bytes the header declares (${what})`, name);
    }
  }
}
