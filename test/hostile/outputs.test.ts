// Commands that write must not write over their own inputs: `export --output` naming the model's
// weights, its config, a dataset file, a device or a link is refused by the output guard that
// train and predict use; the model still loads and exports afterwards. And the guard accepts
// every tmpfs (only devtmpfs, the /dev filesystem, is refused).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CASE_LIMIT_MS, CLI, cli, dataset, expectIntact, expectRefused, fingerprint, lib, requireBuilt, storedModel, tmp } from './helpers.js';

requireBuilt();

test('export --output naming the model\'s own files, a dataset file, a device or a link is refused; the model still exports', () => {
  const m = path.join(tmp('export'), 'model');
  storedModel(m);
  const data = dataset();
  const image = path.join(data, 'imagesTr', fs.readdirSync(path.join(data, 'imagesTr'))[0]);
  const link = path.join(tmp('export'), 'out.onnx');
  fs.symlinkSync(path.join(m, 'config.json'), link);
  const own = fs.readdirSync(m, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  expect(own.length).toBeGreaterThanOrEqual(3);
  const before = fingerprint(m, data);
  for (const out of [...own, image, path.join(data, 'dataset.json'), '/dev/null', link]) {
    const o = cli(['export', '--model_dir', m, '--output', out]);
    expectRefused(o, { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--output', out] });
  }
  expectIntact(before);
  // Its own earlier export may be replaced; the model loads as before.
  for (let i = 0; i < 2; i++) expect(cli(['export', '--model_dir', m]).exit).toBe(0);
  expect(cli(['export', '--model_dir', m, '--output', path.join(tmp('export'), 'elsewhere.onnx')]).exit).toBe(0);
}, CASE_LIMIT_MS);

test('an output folder on any tmpfs (/dev/shm, a tmpfs /tmp) is accepted; devtmpfs, /dev and /proc are refused', () => {
  // Every writable tmpfs mount of this machine (each shares its statfs magic with devtmpfs).
  const tmpfs = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - '))
    .filter((p) => p[1]?.startsWith('tmpfs ') && !p[1].includes(' ro,') && !p[1].split(' ')[2]?.startsWith('ro'))
    .map((p) => p[0].split(' ')[4]).filter((mp) => { try { fs.accessSync(mp, fs.constants.W_OK); return !mp.startsWith('/sys') && !mp.startsWith('/proc'); } catch { return false; } });
  if (!tmpfs.length) console.log('no writable tmpfs on this machine: only the refusals are checked');
  for (const mp of tmpfs) {
    const o = lib(`const { checkOutputDir } = await import(D + '/data/index.js'); checkOutputDir(${JSON.stringify(path.join(mp, 'vnet-hostile-model'))}, [], '--model_dir'); return 'ok';`);
    expect([mp, o.result]).toEqual([mp, { ok: true, value: 'ok' }]);
  }
  for (const bad of ['/dev/vnet-hostile', '/dev/null', '/proc/self/vnet']) {
    const d = lib(`const { checkOutputDir } = await import(D + '/data/index.js'); checkOutputDir(${JSON.stringify(bad)}, [], '--model_dir');`);
    expectRefused(d, { exit: 0, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--model_dir', bad] });
  }
}, CASE_LIMIT_MS);

test('a write that fails (disk full, a file-size limit) names the file and leaves no temporary file; a killed writer\'s are swept', () => {
  const m = path.join(tmp('export'), 'model');
  storedModel(m);
  const outDir = tmp('export');
  const out = path.join(outDir, 'big.onnx');
  // A 16 KiB file-size limit: the write fails part-way, as on a full disk.
  const r = spawnSync('bash', ['-c', `ulimit -f 16; exec "${process.execPath}" "${CLI}" export --model_dir "${m}" --output "${out}"`], { encoding: 'utf8', timeout: 30_000 });
  expect([r.status, r.signal]).toEqual([1, null]);
  expect(r.stderr).toContain('VNET_E_WRITE');
  expect(r.stderr).toContain(out);
  expect(r.stderr.split('VNET_E_WRITE').length - 1).toBe(1);
  expect(fs.readdirSync(outDir)).toEqual([]);
  // Temporary files of a writer that no longer runs go at the next write into their folder.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = path.join(outDir, `.model.onnx.${dead}.deadbeef.tmp`);
  const live = path.join(outDir, `.model.onnx.${process.pid}.cafebabe.tmp`);
  fs.writeFileSync(stale, 'half');
  fs.writeFileSync(live, 'in progress');
  expect(cli(['export', '--model_dir', m, '--output', path.join(outDir, 'model.onnx')]).exit).toBe(0);
  expect([fs.existsSync(stale), fs.existsSync(live)]).toEqual([false, true]);
}, CASE_LIMIT_MS);
