// DICOM in and out: a series folder (or uploaded files) read into the project's volume form, and
// a predicted mask written back as a DICOM SEG that refers to the source series.
export { isDicom, type DicomFrame, type StudyAttributes } from './parse.js';
export { volumeToNifti } from './header.js';
export { isDicomFolder, readDicomFiles, readDicomFolder, type DicomSource, type DicomVolume, type NamedBytes } from './series.js';
export { encodeDicomSeg, writeDicomSeg, type Code, type SegLabel, type SegOptions } from './seg.js';
