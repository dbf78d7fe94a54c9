// vnet-native as another program uses it: imported by its package name (a node_modules link to
// this package, resolved through package.json "exports"), training a few steps on real cases.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, realSubset, requireBuilt, tmpDir } from './helpers.js';

requireBuilt();

test('import by package name and train a few steps on real cases through runMode', () => {
  const app = tmpDir('app');
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'vnet-native'), 'dir');
  const data = realSubset(4, 0);
  const model = path.join(app, 'model');
  fs.writeFileSync(path.join(app, 'main.mjs'), `
    import { VNet, RMSProp, tensor, tidy, diceLoss, backward, memory, runMode, withDefaults, data } from 'vnet-native';
    const net = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] });
    const opt = new RMSProp(1e-3);
    const ds = data.loadDataset(${JSON.stringify(data)});
    const c = data.prepareCase(ds.training[0], [16, 16, 16]);
    const losses = [];
    for (let i = 0; i < 3; i++) losses.push(tidy(() => {
      const { loss } = diceLoss(net.forward(tensor(c.image, [1, 16, 16, 16, 1])), tensor(c.label, [1, 16, 16, 16]));
      const v = loss.item();
      backward(loss);
      opt.step(net.parameters);
      net.store.zeroGrad();
      return v;
    }));
    const steps = [];
    const res = await runMode('train', withDefaults({ dataDir: ${JSON.stringify(data)}, modelDir: ${JSON.stringify(model)}, batchSize: 2,
      inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1], trainEpochs: 2, progress: false }),
      { onStep: (s) => steps.push(s.loss), logger: { log() {}, info() {}, progress() {}, close() {} } });
    console.log(JSON.stringify({ losses, steps, epochs: res.train.state.epoch, live: memory().cpu.tensors }));
  `);
  const r = spawnSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', env: { ...process.env, VNET_NUM_THREADS: '2' } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(out.losses).toHaveLength(3);
  expect(out.losses.every((v: number) => v > 0 && v < 3)).toBe(true);
  expect(out.steps).toHaveLength(4); // 2 epochs x 2 steps
  expect(out.epochs).toBe(2);
  expect(fs.existsSync(path.join(model, 'final.safetensors'))).toBe(true);
});
