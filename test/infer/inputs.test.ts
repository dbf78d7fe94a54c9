// What `predict -i` finds in a folder: NIfTI files, nnU-Net channel files gathered per case,
// symbolic links followed (a folder of links into a dataset), broken links skipped, and an
// empty folder refused by name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findInputs } from '../../src/infer/inputs.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-inputs-')); });
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const touch = (...parts: string[]) => { const p = path.join(dir, ...parts); fs.mkdirSync(path.dirname(p), { recursive: true }); fs.writeFileSync(p, 'x'); return p; };

test('files and links to files are cases; a broken link is skipped', () => {
  touch('a.nii.gz');
  const target = touch('elsewhere', 'b.nii.gz');
  fs.mkdirSync(path.join(dir, 'in'));
  fs.renameSync(path.join(dir, 'a.nii.gz'), path.join(dir, 'in', 'a.nii.gz'));
  fs.symlinkSync(target, path.join(dir, 'in', 'b.nii.gz'));
  fs.symlinkSync(path.join(dir, 'gone.nii.gz'), path.join(dir, 'in', 'c.nii.gz'));
  const { cases, skipped } = findInputs(path.join(dir, 'in'));
  expect(cases.map((c) => c.id)).toEqual(['a', 'b']);
  expect(skipped.map((p) => path.basename(p))).toEqual(['c.nii.gz']);
});

test('linked channel files are gathered into one case in channel order', () => {
  const t0 = touch('src', 'x_0000.nii.gz'), t1 = touch('src', 'x_0001.nii.gz');
  fs.mkdirSync(path.join(dir, 'in'));
  fs.symlinkSync(t1, path.join(dir, 'in', 'x_0001.nii.gz'));
  fs.symlinkSync(t0, path.join(dir, 'in', 'x_0000.nii.gz'));
  const { cases } = findInputs(path.join(dir, 'in'));
  expect(cases).toEqual([{ id: 'x', kind: 'nifti', file: path.join(dir, 'in', 'x_0000.nii.gz'), channels: [path.join(dir, 'in', 'x_0000.nii.gz'), path.join(dir, 'in', 'x_0001.nii.gz')] }]);
});

test('a folder of only broken links is refused, naming the folder', () => {
  fs.mkdirSync(path.join(dir, 'in'));
  fs.symlinkSync(path.join(dir, 'nothing.nii.gz'), path.join(dir, 'in', 'a.nii.gz'));
  expect(() => findInputs(path.join(dir, 'in'))).toThrow(/VNET_E_EMPTY_FOLDER|no NIfTI files/);
  try { findInputs(path.join(dir, 'in')); } catch (e) { expect(String((e as Error).message) + JSON.stringify(e)).toContain(path.join(dir, 'in')); }
});
