// `vnet-native predict -i <file | folder | DICOM series> -o <folder | file> --model <dir | name>`:
// the form for one's own scans (no dataset.json). `predict --data_dir ... --model_dir ...` stays
// the dataset form; -i (or --input) anywhere on the line selects this one.
import type { Options } from 'yargs';
import { predictFiles, type OutputType } from '../runner/predict-files.js';
import { runFlags } from './flags.js';

export const predictFileFlags: Record<string, Options> = {
  input: { alias: 'i', type: 'string', demandOption: true, describe: 'a NIfTI file (.nii, .nii.gz), a DICOM series folder (or one multi-frame DICOM file), or a folder of NIfTI files and DICOM series folders' },
  output: { alias: 'o', type: 'string', demandOption: true, describe: 'folder for the masks (<case>.nii.gz, or <case>.seg.dcm), volumes.json and report.html; or, for one input, the mask file itself' },
  model: { type: 'string', demandOption: true, describe: 'a trained model folder (config.json + checkpoint), or a shipped model by name: hippocampus' },
  continue: { type: 'boolean', default: false, describe: 'skip cases whose outputs exist (resume an interrupted run)' },
  save_probabilities: { type: 'boolean', default: false, alias: 'save-probabilities', describe: 'also write <case>.probabilities.nii.gz: a 4-D float32 NIfTI, one volume per class, in the input\'s geometry' },
  output_type: { choices: ['auto', 'nifti', 'dicom_seg'], default: 'auto', alias: 'output-type', describe: 'auto: the input\'s format (NIfTI for NIfTI, DICOM SEG for DICOM); nifti; dicom_seg (DICOM input only)' },
  tta: { type: 'boolean', default: true, describe: 'test-time augmentation: the mean over mirrorings (--no-tta: one pass per window instead of eight for full-resolution models)' },
  batch_size: { type: 'number', default: 1, alias: 'batch-size', describe: 'windows per forward pass' },
  report: { type: 'boolean', default: true, describe: 'write report.html (volumes and an overlay per case) in the output folder' },
  device: runFlags.device, threads: runFlags.threads, amp: runFlags.amp, overlap: runFlags.overlap,
};

/** True when the command line is predict's file form. */
export const isFileForm = (argv: readonly string[]) => argv.some((a) => a === '-i' || /^--input(=|$)/.test(a) || /^-i./.test(a));

export async function cmdPredictFiles(a: Record<string, unknown>): Promise<void> {
  await predictFiles({
    input: a.input as string, output: a.output as string, model: a.model as string, continue: a.continue as boolean,
    saveProbabilities: a.save_probabilities as boolean, outputType: a.output_type as OutputType, tta: a.tta as boolean,
    batchSize: a.batch_size as number, report: a.report as boolean, device: a.device as 'cpu' | 'cuda' | undefined,
    threads: a.threads as number | undefined, amp: a.amp as boolean, overlap: a.overlap as number | undefined,
  });
}
