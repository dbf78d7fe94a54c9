// What the viewer page (or curl) sends to /predict, read back: one NIfTI file as the raw body or
// as the one part of a multipart/form-data upload, or a DICOM series as several parts (one
// file each) or a single multi-frame DICOM body. The kind is decided by the bytes, never by the
// content type or the file name, so curl's default type and a browser's guess both work.
import { DataError } from '../../data/index.js';
import { isDicom, type NamedBytes } from '../../data/dicom/index.js';

export type Upload = { kind: 'nifti'; name: string; bytes: Uint8Array } | { kind: 'dicom'; files: NamedBytes[] };

/** gzip (a .nii.gz) or a NIfTI-1/2 header size in either byte order. */
export function looksLikeNifti(b: Uint8Array): boolean {
  if (b.byteLength >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
  if (b.byteLength < 4) return false;
  const dv = new DataView(b.buffer, b.byteOffset, 4);
  return [348, 540].includes(dv.getInt32(0, true)) || [348, 540].includes(dv.getInt32(0, false));
}

/** Sorts `body` (with its Content-Type header) into a NIfTI or a DICOM upload; a DataError names the part at fault. */
export async function readUpload(contentType: string | undefined, body: Uint8Array): Promise<Upload> {
  const type = (contentType ?? '').toLowerCase();
  let parts: NamedBytes[];
  if (type.startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      // The Fetch API's multipart parser (undici, part of Node): no parser of our own to get wrong.
      form = await new Request('http://upload.invalid/', { method: 'POST', headers: { 'content-type': contentType! }, body: new Blob([new Uint8Array(body)]) }).formData();
    } catch (e) {
      throw new DataError('VNET_E_BAD_ARGUMENT', `the multipart body cannot be parsed: ${(e as Error).message}`, 'the upload');
    }
    const files = [...form.values()].filter((v): v is File => typeof v !== 'string');
    parts = await Promise.all(files.map(async (f, i) => ({ name: f.name || `part ${i + 1}`, bytes: new Uint8Array(await f.arrayBuffer()) })));
  } else {
    parts = [{ name: 'request body', bytes: body }];
  }
  if (parts.length === 0) throw new DataError('VNET_E_EMPTY_FOLDER', 'the upload holds no files', 'the upload');
  if (parts.length === 1 && !isDicom(parts[0].bytes)) {
    if (!looksLikeNifti(parts[0].bytes)) throw new DataError('VNET_E_NOT_IMAGE', 'neither NIfTI (.nii / .nii.gz) nor DICOM', parts[0].name);
    return { kind: 'nifti', name: parts[0].name, bytes: parts[0].bytes };
  }
  const other = parts.find((p) => !isDicom(p.bytes));
  if (other) throw new DataError('VNET_E_NOT_DICOM', 'several files were sent, so they must be the DICOM files of one series; this one is not DICOM', other.name);
  return { kind: 'dicom', files: parts };
}
