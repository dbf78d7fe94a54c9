// The predict mode's writing loop: every case through the segmenter (the one inference path,
// shared with `serve`), its mask written to `<outDir>/<id>.nii.gz` at the input's shape and geometry.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, type CaseRef } from '../data/index.js';
import type { VNet } from '../nn/index.js';
import { Segmenter } from './segmenter.js';

/** Predicts every case and writes `<outDir>/<id>.nii.gz` at the input's shape and geometry. */
export async function predictCases(net: VNet, cases: CaseRef[], nClasses: number, batchSize: number, outDir: string, onCase?: (id: string, file: string) => void, opts: { tta?: boolean; overlap?: number; members?: VNet[] } = {}): Promise<string[]> {
  const labels = Array.from({ length: nClasses }, (_, value) => ({ value, name: String(value) }));
  const seg = new Segmenter(net, labels, { batchSize, tta: opts.tta, overlap: opts.overlap, members: opts.members });
  const files: string[] = [];
  fs.mkdirSync(outDir, { recursive: true });
  try {
    // A few batches per call, so reading overlaps the forward passes without holding every mask.
    for (let i = 0; i < cases.length; i += 4 * batchSize) {
      const chunk = cases.slice(i, i + 4 * batchSize);
      const res = await seg.segmentBatch(chunk.map((c) => c.image));
      for (let j = 0; j < chunk.length; j++) {
        const file = path.join(outDir, `${chunk[j].id}.nii.gz`);
        await writeFileAtomic(file, res[j].mask);
        files.push(file);
        onCase?.(chunk[j].id, file);
      }
    }
  } finally {
    await seg.dispose();
  }
  return files;
}
