// A generated large dataset for the loader and memory benchmarks: CT-like volumes (float32,
// uncompressed, so writing and reading them costs no gzip) with a labelled sphere each.
import path from 'node:path';
import { writeFileAtomicSync, type Shape3 } from '../../src/data/index.js';
import { buildNifti1 } from '../../src/data/synthetic.js';

/** Writes `n` cases of `shape` and their dataset.json into `dir`; returns the bytes of voxels written. */
export function writeLarge(dir: string, n: number, shape: Shape3): number {
  const [nx, ny, nz] = shape;
  const training = [];
  for (let k = 0; k < n; k++) {
    const img = new Float32Array(nx * ny * nz), lab = new Uint8Array(nx * ny * nz);
    const c = [nx * (0.4 + 0.05 * (k % 5)), ny / 2, nz / 2], r = Math.min(nx, ny, nz) / 6;
    let i = 0;
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++) {
      const inside = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 < r * r;
      lab[i] = inside ? 1 : 0;
      img[i] = (inside ? 60 : 40) + ((i * 2654435761) % 97) - 48;
    }
    writeFileAtomicSync(path.join(dir, 'imagesTr', `big_${k}.nii`), buildNifti1(shape, img));
    writeFileAtomicSync(path.join(dir, 'labelsTr', `big_${k}.nii`), buildNifti1(shape, lab));
    training.push({ image: `./imagesTr/big_${k}.nii`, label: `./labelsTr/big_${k}.nii` });
  }
  writeFileAtomicSync(path.join(dir, 'dataset.json'), JSON.stringify({ name: 'Large', modality: { 0: 'CT' }, labels: { 0: 'background', 1: 'sphere' }, training, test: [] }));
  return n * nx * ny * nz * 5;
}
