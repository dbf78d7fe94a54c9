// A case's input channels: one 3-D or 4-D file (MSD: the 4th dimension lists the modalities)
// or one 3-D file per channel (nnU-Net v2: case_0000, case_0001, ...). A channel count that
// disagrees with the dataset's (or the model's), or channel files on different grids, is an
// error naming the file: a channel is never dropped or cut without a word.
import { DataError } from './errors.js';
import { niftiAffine, type NiftiHeader } from './nifti-header.js';
import { readNifti, readNiftiChannels, type NiftiVolume } from './nifti.js';

/** Where an image comes from: a file (all channels in it), one file per channel, or a file's bytes. */
export type ImageSource = string | readonly string[] | Uint8Array;

/** A case's image source: its per-channel files when it has them, else its one image file. */
export const imageSource = (ref: { image: string; channels?: readonly string[] }): ImageSource => ref.channels ?? ref.image;

/** Largest spacing or affine difference (mm) tolerated between the channel files of a case. */
export const GEOMETRY_TOLERANCE = 1e-3;

/**
 * The (C, D, H, W) channels of an image. With one channel a single file keeps its last volume
 * (the reference's reading; validation reports a 4-D file of a one-channel dataset), with C > 1
 * a file must hold exactly C volumes and a list exactly C 3-D files on one grid.
 */
export function readImageChannels(src: ImageSource, channels: number, name?: string): NiftiVolume<Float32Array> {
  if (typeof src === 'string' || src instanceof Uint8Array) {
    const file = typeof src === 'string' ? src : name;
    if (channels === 1) return readNifti(src, file);
    const v = readNiftiChannels(src, file);
    if (v.volumes !== channels) throw new DataError('VNET_E_CHANNEL_COUNT', `the image holds ${v.volumes} volume(s) but the ${channels} input channels need one each`, file);
    return v;
  }
  if (src.length !== channels) throw new DataError('VNET_E_CHANNEL_COUNT', `${src.length} channel file(s) given for ${channels} input channels`, src[0]);
  const vols = src.map((f) => readNifti(f));
  const first = vols[0];
  const vox = first.data.length;
  const data = new Float32Array(vox * channels);
  vols.forEach((v, c) => {
    checkChannelFile(v, first, src[c]);
    data.set(v.data, c * vox);
  });
  return { ...first, data };
}

/** A channel file is 3-D and on the grid of the case's first channel (shape, spacing, affine). */
export function checkChannelFile(v: Omit<NiftiVolume, 'data'>, first: Omit<NiftiVolume, 'data'>, file?: string): void {
  if (v.volumes !== 1) throw new DataError('VNET_E_CHANNEL_COUNT', `a channel file must hold one 3-D volume, this one holds ${v.volumes}`, file);
  if (v.shape.some((s, i) => s !== first.shape[i])) throw new DataError('VNET_E_SHAPE_MISMATCH', `channel shape ${v.shape.join('x')} differs from the first channel's ${first.shape.join('x')} (${first.file ?? 'channel 0'})`, file);
  const diff = geometryDiff(v.header, first.header);
  if (diff > GEOMETRY_TOLERANCE) throw new DataError('VNET_E_GEOMETRY', `channel geometry (spacing / affine) differs from the first channel's by ${diff.toPrecision(3)} mm (${first.file ?? 'channel 0'})`, file);
}

/** The largest difference of spacing or affine entries between two headers, in mm. */
export function geometryDiff(a: NiftiHeader, b: NiftiHeader): number {
  const sa = a.pixdim.slice(1, 4), sb = b.pixdim.slice(1, 4);
  const aa = niftiAffine(a), ab = niftiAffine(b);
  return Math.max(...sa.map((s, i) => Math.abs(s - sb[i])), ...aa.flatMap((r, i) => r.map((v, k) => Math.abs(v - ab[i][k]))));
}
