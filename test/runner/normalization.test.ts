// Normalisation by modality through the runner: a CT-like dataset trains with the CT scheme
// fitted on its training foreground and recorded in config.json, which predict uses; flags
// override the choice; the stored statistics survive --resume (they come from the data, not
// from flags, so they are not compared).
import fs from 'node:fs';
import path from 'node:path';
import { runMode, withDefaults } from '../../src/runner/index.js';
import { tmpDir } from '../cli/helpers.js';
import { writeCt } from '../data/generated.js';

const quiet = { log() {}, info() {}, progress() {}, close() {} };
const SMALL = { inputShape: [16, 16, 16] as [number, number, number], downscaleBlocks: [1, 1], upscaleBlocks: [1], batchSize: 2, trainEpochs: 1, progress: false, report: false };
const config = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));

let dataDir = '';
beforeAll(() => {
  dataDir = tmpDir('ct-run');
  writeCt(dataDir, { cases: 4, tests: 1 });
});

test('CT: the fitted clip range and scale are stored, predict runs with them, resume keeps them', async () => {
  const modelDir = path.join(tmpDir('ct-model'), 'm');
  await runMode('train_and_predict', withDefaults({ dataDir, modelDir, ...SMALL }), { logger: quiet });
  const [ct] = config(modelDir).model.intensity;
  expect(ct.scheme).toBe('ct');
  expect(ct.clip[0]).toBeLessThan(ct.clip[1]);
  expect(ct.std).toBeGreaterThan(0);
  expect(fs.readdirSync(path.join(modelDir, 'predictions'))).toEqual(['ct_004.nii.gz']);
  await runMode('train', withDefaults({ dataDir, modelDir, ...SMALL, trainEpochs: 2, resume: true }), { logger: quiet });
  expect(config(modelDir).model.intensity).toEqual([ct]);
}, 120_000);

test.each([['zscore', undefined], ['none', [{ scheme: 'none' }]]] as const)('--data_normalization %s overrides the CT default', async (choice, want) => {
  const modelDir = path.join(tmpDir('ct-model'), 'm');
  await runMode('train', withDefaults({ dataDir, modelDir, ...SMALL, dataNormalization: choice }), { logger: quiet });
  expect(config(modelDir).model.intensity).toEqual(want);
}, 60_000);
