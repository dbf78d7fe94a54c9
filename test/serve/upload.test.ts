// Uploads sorted by their bytes: NIfTI whatever the content type (curl's default included), as a
// raw body or a single multipart part; DICOM series as multipart parts or a single DICOM body;
// anything else refused with a code that names the part.
import fs from 'node:fs';
import { encodePart10, newUid } from '../../src/data/dicom/encode.js';
import { readUpload } from '../../src/serve/page/upload.js';
import { real } from '../data/helpers.js';

const dicom = () => encodePart10([], '1.2.840.10008.5.1.4.1.1.4', newUid(), 'test');
const nii = () => (fs.existsSync(real('001')) ? new Uint8Array(fs.readFileSync(real('001'))) : Uint8Array.of(0x1f, 0x8b, 8, 0));

/** A multipart body as a browser's FormData would send it. */
async function multipart(parts: [string, Uint8Array][]): Promise<[string, Uint8Array]> {
  const form = new FormData();
  for (const [name, bytes] of parts) form.append('file', new Blob([new Uint8Array(bytes)]), name);
  const req = new Request('http://x/', { method: 'POST', body: form });
  return [req.headers.get('content-type')!, new Uint8Array(await req.arrayBuffer())];
}

async function refused(type: string | undefined, body: Uint8Array): Promise<{ code: string; file?: string }> {
  return readUpload(type, body).then(() => { throw new Error('expected a refusal'); }, (e: { code: string; file?: string }) => e);
}

describe('readUpload', () => {
  it('NIfTI by its bytes, under any content type or none', async () => {
    for (const type of [undefined, 'application/octet-stream', 'application/x-www-form-urlencoded', 'text/plain']) {
      expect(await readUpload(type, nii())).toMatchObject({ kind: 'nifti', name: 'request body' });
    }
    const hdr = new Uint8Array(352);
    new DataView(hdr.buffer).setInt32(0, 348, false); // an uncompressed big-endian .nii
    expect((await readUpload(undefined, hdr)).kind).toBe('nifti');
  });

  it('multipart: one NIfTI part, or the DICOM files of a series', async () => {
    expect(await readUpload(...(await multipart([['case.nii.gz', nii()]])))).toMatchObject({ kind: 'nifti', name: 'case.nii.gz' });
    const up = await readUpload(...(await multipart([['a.dcm', dicom()], ['b.dcm', dicom()], ['c', dicom()]])));
    expect(up.kind === 'dicom' && up.files.map((f) => f.name)).toEqual(['a.dcm', 'b.dcm', 'c']);
    expect((await readUpload('application/dicom', dicom())).kind).toBe('dicom'); // one multi-frame file
  });

  it('refuses what is neither, a NIfTI among DICOM parts, an empty or broken multipart body', async () => {
    expect(await refused('application/octet-stream', new TextEncoder().encode('hello'))).toMatchObject({ code: 'VNET_E_NOT_IMAGE', file: 'request body' });
    expect(await refused(...(await multipart([['a.dcm', dicom()], ['notes.txt', new TextEncoder().encode('x')]])))).toMatchObject({ code: 'VNET_E_NOT_DICOM', file: 'notes.txt' });
    expect(await refused(...(await multipart([])))).toMatchObject({ code: 'VNET_E_EMPTY_FOLDER' });
    expect(await refused('multipart/form-data; boundary=zzz', new TextEncoder().encode('--yyy\r\nnot it'))).toMatchObject({ code: 'VNET_E_BAD_ARGUMENT' });
  });
});
