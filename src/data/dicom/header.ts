// A NIfTI-1 header for a volume read from DICOM, so that everything downstream (the mask writer,
// metrics, the server) sees the same kind of volume a .nii gives: float32 data, the affine in
// both sform and qform (scanner coordinates, mm), as dcm2niix writes them.
import type { Shape3 } from '../nifti.js';

/** The quaternion (b, c, d) and qfac of a 3x3 matrix with orthogonal columns of lengths `spacing`. */
export function affineToQuatern(affine: number[][], spacing: readonly number[]): { quatern: [number, number, number]; qfac: 1 | -1 } {
  const R = [0, 1, 2].map((i) => [0, 1, 2].map((j) => affine[i][j] / spacing[j]));
  const det = R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) - R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0])
    + R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
  // A left-handed grid is a proper rotation with its third axis flipped (NIfTI's qfac = -1).
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) for (const row of R) row[2] = -row[2];
  const [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]] = R;
  let a = r11 + r22 + r33 + 1;
  let b: number, c: number, d: number;
  // Pick the largest of the four components to divide by, for accuracy.
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a; c = (0.25 * (r13 - r31)) / a; d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33), yd = 1 + r22 - (r11 + r33), zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd); c = (0.25 * (r12 + r21)) / b; d = (0.25 * (r13 + r31)) / b; a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd); b = (0.25 * (r12 + r21)) / c; d = (0.25 * (r23 + r32)) / c; a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd); b = (0.25 * (r13 + r31)) / d; c = (0.25 * (r23 + r32)) / d; a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) { b = -b; c = -c; d = -d; }
  }
  return { quatern: [b, c, d], qfac };
}

/** The 348-byte little-endian NIfTI-1 header (plus the 4-byte "no extension" flag) of a float32 volume. */
export function niftiHeaderBytes(shape: Shape3, spacing: readonly number[], affine: number[][], descrip: string): Uint8Array {
  const out = new Uint8Array(352);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, 348, true);
  [3, ...shape, 1, 1, 1, 1].forEach((v, i) => dv.setInt16(40 + 2 * i, v, true));
  dv.setInt16(70, 16, true); // float32
  dv.setInt16(72, 32, true);
  const { quatern, qfac } = affineToQuatern(affine, spacing);
  [qfac, ...spacing, 1, 1, 1, 1].forEach((v, i) => dv.setFloat32(76 + 4 * i, v, true));
  dv.setFloat32(108, 352, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope: the data is already rescaled
  out[123] = 2; // xyzt_units: mm
  out.set(Buffer.from(descrip.slice(0, 79), 'latin1'), 148);
  dv.setInt16(252, 1, true); // qform_code: scanner
  dv.setInt16(254, 1, true); // sform_code: scanner
  quatern.forEach((v, i) => dv.setFloat32(256 + 4 * i, v, true));
  [0, 1, 2].forEach((i) => dv.setFloat32(268 + 4 * i, affine[i][3], true));
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) dv.setFloat32(280 + 16 * i + 4 * j, affine[i][j], true);
  out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1"
  return out;
}

/** A volume read from DICOM as an uncompressed NIfTI-1 file (float32, its own header), e.g. for a viewer. */
export function volumeToNifti(vol: { headerBytes: Uint8Array; shape: Shape3; data: Float32Array }): Uint8Array {
  const [nx, ny, nz] = vol.shape;
  const out = new Uint8Array(352 + 4 * nx * ny * nz);
  out.set(vol.headerBytes.subarray(0, 348));
  const f = new Float32Array(out.buffer, 352);
  // Tensor order (z fastest) -> file order (x fastest).
  for (let z = 0, i = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++) f[i] = vol.data[(x * ny + y) * nz + z];
  return out;
}
