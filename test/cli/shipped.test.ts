// The shipped `hippocampus` model as a user meets it: found by name, its checksums and card in
// place, F16 weights; predict, serve and demo use it; its mask of the example scan (a held-out
// case) matches the expert label; serve answers the same mask as predict.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { defaultDataDir, readNiftiLabels } from '../../src/data/index.js';
import { readSafetensors } from '../../src/infer/safetensors.js';
import { resolveModel, shippedModelNames, verifySums } from '../../src/infer/shipped.js';
import { CLI, ROOT, requireBuilt, runCli, tmpDir } from './helpers.js';
import { request } from '../serve/helpers.js';

requireBuilt();
const dir = path.join(ROOT, 'models', 'hippocampus');
// A case the model never trained on (held out), read from the data folder, never copied in.
const example = path.join(defaultDataDir(), 'imagesTr', 'hippocampus_359.nii.gz');
const itData = fs.existsSync(example) ? test : (name: string, ...rest: unknown[]) => test.skip(`${name} (skipped: no ${example}; set VNET_DATA_DIR)`, ...(rest as []));
const work = tmpDir('shipped');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function dice(a: Int32Array, b: Int32Array, v: number): number {
  let both = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { na += +(a[i] === v); nb += +(b[i] === v); both += +(a[i] === v && b[i] === v); }
  return (2 * both) / (na + nb);
}

test('found by name, checksums verified, card with licence and accuracy, F16 weights', async () => {
  expect(shippedModelNames()).toContain('hippocampus');
  expect(resolveModel('hippocampus')).toEqual({ dir, name: 'hippocampus' });
  verifySums(dir);
  const card = fs.readFileSync(path.join(dir, 'MODEL_CARD.md'), 'utf8');
  expect(card).toMatch(/CC-BY-SA 4\.0/);
  expect(card).toMatch(/\| Anterior Dice \| Posterior Dice \|/);
  expect(card).toMatch(/\| \*\*F16, as shipped\*\* \| \*\*0\.\d{4}\*\* \| \*\*0\.\d{4}\*\*/);
  expect(card).not.toMatch(/ACC_TABLE|TRAIN_TIME/);
  const { tensors } = await readSafetensors(path.join(dir, 'final.safetensors'));
  expect([...tensors.values()].filter((t) => t.shape.length === 5).every((t) => t.dtype === 'F16')).toBe(true);
  expect([...tensors.keys()].some((k) => k.startsWith('optimizer/'))).toBe(false);
});

itData('predict --model hippocampus segments the held-out example like the expert; serve answers the same mask', async () => {
  const out = path.join(work, 'mask.nii.gz');
  const r = runCli(['predict', '-i', example, '-o', out, '--model', 'hippocampus', '--no-tta']);
  expect(r.code).toBe(0);
  const label = path.join(defaultDataDir(), 'labelsTr', 'hippocampus_359.nii.gz');
  const mask = readNiftiLabels(out).data;
  if (fs.existsSync(label)) {
    const truth = readNiftiLabels(label).data;
    for (const v of [1, 2]) expect(dice(mask, truth, v)).toBeGreaterThan(0.8);
  } else process.stdout.write(`no ${label}: the mask is not compared with its label\n`);
  const child = spawn(process.execPath, [CLI, 'serve', '--model', 'hippocampus', '--port', '0'], { env: { ...process.env, VNET_NUM_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let outText = '';
    child.stdout!.on('data', (c) => (outText += c));
    let url: string | undefined;
    for (let i = 0; i < 600 && !url; i++) {
      const u = /listening on (\S+)/.exec(outText)?.[1];
      if (u && (await request(`${u}/health`).catch(() => undefined))?.status === 200) url = u;
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(url).toBeDefined();
    const reply = await request(`${url}/predict`, { body: fs.readFileSync(example) });
    expect(reply.status).toBe(200);
    fs.writeFileSync(path.join(work, 'served.nii.gz'), reply.body);
    expect(Buffer.from(readNiftiLabels(path.join(work, 'served.nii.gz')).data.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
  } finally {
    child.kill('SIGTERM');
  }
}, 120_000);

itData('demo --model hippocampus segments --data_dir\'s test images with no training; without --data_dir it says what it needs', () => {
  const data = tmpDir('shipped-data');
  fs.mkdirSync(path.join(data, 'imagesTs'));
  fs.copyFileSync(example, path.join(data, 'imagesTs', 'hippocampus_359.nii.gz'));
  const r = runCli(['demo', '--model', 'hippocampus', '--data_dir', data, '--model_dir', path.join(work, 'demo')]);
  expect(r.code).toBe(0);
  expect(fs.readdirSync(path.join(work, 'demo', 'predictions')).sort()).toEqual(['hippocampus_359.nii.gz', 'report.html', 'volumes.json']);
  expect(r.stdout).toMatch(/demo finished: 1 mask\(s\)/);
  fs.rmSync(data, { recursive: true, force: true });
  const bare = runCli(['demo', '--model', 'hippocampus', '--model_dir', path.join(work, 'demo2')]);
  expect(bare.code).toBe(1);
  expect(bare.stderr).toMatch(/demo --model hippocampus needs --data_dir/);
});
