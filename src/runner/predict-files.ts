// `predict -i <file | folder | DICOM series> -o <folder | file> --model <dir | name>`: the user's
// own scans through the segmenter with no dataset.json. Each case's mask is written in the input's
// geometry and format (NIfTI in: .nii.gz; DICOM in: a DICOM SEG, or NIfTI with --output_type
// nifti), optionally its probabilities, then volumes.json and report.html for the whole run.
// Every flag and input is checked before the first file is written.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { checkOutputDir, checkOutputFile, encodeProbabilities, makeDirs, readNifti, writeFileAtomic } from '../data/index.js';
import { readDicomFiles, readDicomFolder, volumeToNifti, writeDicomSeg, type DicomVolume } from '../data/dicom/index.js';
import { readRegularFile } from '../data/index.js';
import { peakRssMb } from '../bench/stats.js';
import { setupDevice } from '../config/device.js';
import { RunError } from '../config/options.js';
import { findInputs, type InputCase } from '../infer/inputs.js';
import { createSegmenter, type Segmentation } from '../infer/segmenter.js';
import { resolveModel } from '../infer/shipped.js';
import { writeReport, type ReportOverlay, type ReportVolumes } from '../report/index.js';

export type OutputType = 'auto' | 'nifti' | 'dicom_seg';

export interface PredictFilesOptions {
  input: string;
  output: string;
  /** A trained model folder or the name of a shipped model. */
  model: string;
  /** Skip cases whose outputs all exist (an earlier run's, written whole by rename). */
  continue?: boolean;
  saveProbabilities?: boolean;
  outputType?: OutputType;
  tta?: boolean;
  overlap?: number;
  batchSize?: number;
  device?: 'cpu' | 'cuda';
  threads?: number;
  amp?: boolean;
  report?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface PredictFilesResult {
  written: string[];
  skipped: string[];
  volumes: ReportVolumes[];
}

/** Cases shown as overlays in report.html (the first ones, if small enough to hold). */
const OVERLAYS = 8;
const OVERLAY_MAX_VOXELS = 2 ** 24;

interface Plan { c: InputCase; mask: string; seg?: string; probs?: string }

export async function predictFiles(o: PredictFilesOptions): Promise<PredictFilesResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const type = o.outputType ?? 'auto';
  if (!['auto', 'nifti', 'dicom_seg'].includes(type)) throw new RunError(`--output_type ${type}: must be auto, nifti or dicom_seg`, 'VNET_E_BAD_FLAG');
  const model = resolveModel(o.model);
  const { cases, skipped: strays } = findInputs(o.input);
  for (const s of strays) log(`skipping ${s}: not a NIfTI file or a DICOM series`);
  const nifti = cases.find((c) => c.kind === 'nifti');
  if (type === 'dicom_seg' && nifti) throw new RunError(`--output_type dicom_seg needs DICOM input (a SEG refers to its source series), but ${nifti.file} is NIfTI`, 'VNET_E_BAD_FLAG');
  const plans = planOutputs(o, cases, type);
  const device = setupDevice({ device: o.device ?? 'cpu', threads: o.threads, tf32: true, deterministic: false });
  const seg = await createSegmenter({ modelDir: model.dir, device, tta: o.tta, overlap: o.overlap, amp: o.amp, batchSize: o.batchSize ?? 1, only3d: false, keepProbabilities: o.saveProbabilities });
  const written: string[] = [];
  const skipped: string[] = [];
  const volumes: ReportVolumes[] = [];
  const overlays: ReportOverlay[] = [];
  const failed: { id: string; error: Error }[] = [];
  const t0 = performance.now();
  try {
    const fg = seg.info.labels.filter((l) => l.value !== 0);
    log(`segmenting ${cases.length} case${cases.length === 1 ? '' : 's'} with ${model.name ? `the shipped model "${model.name}"` : model.dir} on ${device}`);
    for (const [i, p] of plans.entries()) {
      const tag = `[${i + 1}/${plans.length}] ${p.c.id}`;
      if (o.continue && done(p)) {
        skipped.push(p.c.id);
        log(`${tag}: done before, skipped (--continue)`);
        continue;
      }
      try {
        const t = performance.now();
        const dicom = p.c.kind === 'dicom' ? readDicomCase(p.c.dir) : undefined;
        const nii = dicom ? volumeToNifti(dicom) : undefined;
        const res: Segmentation = await seg.segment(nii ?? (p.c.kind === 'nifti' ? p.c.channels ?? p.c.file : p.c.dir), { name: p.c.kind === 'nifti' ? p.c.file : p.c.dir });
        // The output folder is made with the first file in it: a run that fails before leaves no trace.
        makeDirs(path.dirname(p.mask));
        if (p.seg) await writeDicomSeg(p.seg, dicom!.dicom, res.labelMap, fg, { algorithmName: `vnet-native ${model.name ?? path.basename(model.dir)}`, seriesDescription: 'vnet-native segmentation' });
        else await writeFileAtomic(p.mask, res.mask);
        written.push(p.seg ?? p.mask);
        if (p.probs) {
          const ref = readNifti(res.mask);
          await writeFileAtomic(p.probs, zlib.gzipSync(encodeProbabilities(ref, res.probs!, seg.net.config.nClasses), { level: 6 }));
          written.push(p.probs);
        }
        volumes.push({ case: p.c.id, labels: res.labels.map((l) => ({ value: l.value, voxels: l.voxels, volumeMm3: l.volumeMm3 })) });
        if (overlays.length < OVERLAYS && res.labelMap.length <= OVERLAY_MAX_VOXELS) {
          overlays.push({ id: p.c.id, shape: res.shape, image: dicom?.data ?? readNifti((p.c as { file: string }).file).data, pred: res.labelMap });
        }
        const vols = res.labels.filter((l) => l.value !== 0).map((l) => `${l.name} ${l.volumeMm3.toFixed(0)} mm³`).join(', ');
        log(`${tag}: ${vols} (${((performance.now() - t) / 1000).toFixed(1)} s) -> ${p.seg ?? p.mask}`);
      } catch (e) {
        // One bad scan does not stop the others; the run fails at the end, naming each.
        failed.push({ id: p.c.id, error: e as Error });
        log(`${tag}: failed: ${(e as Error).message}`);
      }
    }
  } finally {
    await seg.dispose();
  }
  const outDir = o.output;
  if (volumes.length && !isFileName(o.output)) {
    // The run's summary beside the masks (a single-file output gets none).
    const prev = readVolumes(path.join(outDir, 'volumes.json'));
    const all = [...prev.filter((v) => !volumes.some((w) => w.case === v.case)), ...volumes].sort((a, b) => a.case.localeCompare(b.case));
    await writeFileAtomic(path.join(outDir, 'volumes.json'), `${JSON.stringify({ labels: seg.info.labels, cases: all }, null, 2)}\n`);
    if (o.report ?? true) {
      writeReport(path.join(outDir, 'report.html'), {
        title: `vnet-native predictions: ${path.basename(path.resolve(o.input))}`, labels: seg.info.labels, volumes: all, overlays,
        command: process.argv.slice(1).join(' '), config: { model: model.name ?? model.dir, input: o.input, output: o.output, tta: o.tta ?? false, device },
      });
    }
  }
  log(`${volumes.length} case(s) segmented (${written.length} file(s) written), ${skipped.length} skipped, in ${((performance.now() - t0) / 1000).toFixed(1)} s, peak memory ${peakRssMb().toFixed(0)} MB${!isFileName(o.output) ? `; summary: ${path.join(outDir, 'volumes.json')}` : ''}`);
  if (failed.length === 1 && plans.length === 1) throw failed[0].error;
  if (failed.length) {
    const list = failed.map((f) => `${f.id} (${f.error.message})`).join('; ');
    throw new RunError(`${failed.length} of ${plans.length} cases failed, the others were written: ${list}`, (failed[0].error as { code?: string }).code ?? 'VNET_E_RUN');
  }
  return { written, skipped, volumes };
}

const isFileName = (out: string) => /\.(nii(\.gz)?|dcm)$/i.test(out);
const done = (p: Plan) => fs.existsSync(p.seg ?? p.mask) && (!p.probs || fs.existsSync(p.probs));

/** Output paths per case, every one checked before anything is written. */
function planOutputs(o: PredictFilesOptions, cases: InputCase[], type: OutputType): Plan[] {
  const inputs = cases.flatMap((c) => (c.kind === 'nifti' ? c.channels ?? [c.file] : fs.statSync(c.dir).isFile() ? [c.dir] : [path.join(c.dir, 'x')]));
  const asFile = isFileName(o.output);
  if (asFile && cases.length > 1) throw new RunError(`-o ${o.output} is a file name, but -i ${o.input} holds ${cases.length} cases: give a folder`, 'VNET_E_BAD_FLAG');
  const seg = (c: InputCase) => c.kind === 'dicom' && type !== 'nifti';
  if (asFile) {
    const c = cases[0];
    const wantSeg = seg(c);
    if (wantSeg !== /\.dcm$/i.test(o.output)) throw new RunError(`-o ${o.output}: the output is ${wantSeg ? 'a DICOM SEG (.dcm)' : 'NIfTI (.nii.gz)'} for this input${wantSeg ? ' (--output_type nifti for NIfTI)' : ''}`, 'VNET_E_BAD_FLAG');
    checkOutputFile(o.output, inputs, '-o');
    const base = o.output.replace(/\.(nii(\.gz)?|dcm)$/i, '');
    const plan: Plan = { c, mask: o.output, ...(wantSeg ? { seg: o.output } : {}), ...(o.saveProbabilities ? { probs: `${base}.probabilities.nii.gz` } : {}) };
    if (plan.probs) checkOutputFile(plan.probs, inputs, '-o');
    return [plan];
  }
  checkOutputDir(o.output, inputs, '-o');
  return cases.map((c) => {
    const p: Plan = { c, mask: path.join(o.output, `${c.id}.nii.gz`) };
    if (seg(c)) p.seg = path.join(o.output, `${c.id}.seg.dcm`);
    if (o.saveProbabilities) p.probs = path.join(o.output, `${c.id}.probabilities.nii.gz`);
    for (const f of [p.seg ?? p.mask, p.probs]) if (f) checkOutputFile(f, inputs, '-o');
    return p;
  });
}

/** A series folder, or one (multi-frame) DICOM file. */
function readDicomCase(p: string): DicomVolume {
  return fs.statSync(p).isFile() ? readDicomFiles([{ name: p, bytes: readRegularFile(p) }], p) : readDicomFolder(p);
}

/** The cases of an earlier run's volumes.json (kept when --continue adds to it); none if absent or unreadable. */
function readVolumes(file: string): ReportVolumes[] {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases?: ReportVolumes[] };
    return Array.isArray(j.cases) ? j.cases : [];
  } catch {
    return [];
  }
}
