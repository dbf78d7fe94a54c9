// The V-Net's structure (parameter count, names, shapes) and a short training run on CPU.
import * as E from '../../src/engine/index.js';
import { VNet, ConfigError } from '../../src/nn/index.js';
import { RMSProp } from '../../src/optim/index.js';

describe('V-Net', () => {
  test('default configuration has the reference\'s 3,599,747 trainable parameters', () => {
    const net = new VNet();
    expect(net.store.numTrainable()).toBe(3599747);
    const buffers = [...net.store.buffers.values()].reduce((a, t) => a + t.size, 0);
    expect(buffers).toBe(3200);
    expect(net.layers.length).toBe(23);
    expect(net.summary().reduce((a, l) => a + l.flops, 0)).toBe(5546967040);
    expect([...net.parameters.keys()].slice(0, 6)).toEqual([
      'vnet/conv3d/kernel', 'vnet/conv3d/bias', 'vnet/batch_normalization/gamma', 'vnet/batch_normalization/beta',
      'vnet/conv3d_1/kernel', 'vnet/conv3d_1/bias',
    ]);
    expect(net.parameters.get('vnet/conv3d_transpose/kernel')!.shape).toEqual([2, 2, 2, 64, 128]);
    expect(net.parameters.get('vnet/conv3d_19/kernel')!.shape).toEqual([3, 3, 3, 16, 3]);
    // Glorot bound of the output conv: sqrt(6 / (27·(16+3))) = 0.1082
    const k = net.parameters.get('vnet/conv3d_19/kernel')!.toArray();
    expect(Math.max(...Array.from(k, Math.abs))).toBeLessThanOrEqual(0.1083);
    expect(Math.max(...Array.from(k, Math.abs))).toBeGreaterThan(0.1);
    net.dispose();
  });

  test('invalid block lists and shapes are clear errors', () => {
    expect(() => new VNet({ upscaleBlocks: [3] })).toThrow(ConfigError);
    expect(() => new VNet({ upscaleBlocks: [3] })).toThrow(/--upscale_blocks/);
    expect(() => new VNet({ inputShape: [30, 32, 32] })).toThrow(/--input_shape/);
    expect(() => new VNet({ convolutionSize: 4 as 3 })).toThrow(/--convolution_size/);
  });

  test('other valid networks build and run (2 levels, 16x32x16, k=5)', () => {
    E.tidy(() => {
      const net = new VNet({ inputShape: [16, 32, 16], downscaleBlocks: [1, 2], upscaleBlocks: [1], convolutionSize: 5 });
      const y = net.forward(E.randomUniform([1, 16, 32, 16, 1], -1, 1, 1));
      expect(y.shape).toEqual([1, 16, 32, 16, 3]);
      net.dispose();
    });
  });

  test('a few RMSProp steps on a fixed batch lower the dice loss', () => {
    const net = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] }, { seed: 3 });
    const opt = new RMSProp(1e-2);
    const lab = new Int32Array(2 * 16 ** 3);
    for (let i = 0; i < lab.length; i++) {
      const z = i % 16, y = Math.floor(i / 16) % 16;
      lab[i] = z > 4 && z < 10 ? (y < 8 ? 1 : 2) : 0;
    }
    const img = Float32Array.from(lab, (l) => l + 0.3 * Math.sin(l * 7.1));
    const x = E.tensor(img, [2, 16, 16, 16, 1]), labels = E.tensor(lab, [2, 16, 16, 16]);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) {
      E.tidy(() => {
        const { loss } = E.diceLoss(net.forward(x), labels);
        losses.push(loss.item());
        E.backward(loss);
        opt.step(net.parameters);
        net.store.zeroGrad();
      });
    }
    expect(losses[0]).toBeGreaterThan(1.5);
    expect(losses[7]).toBeLessThan(losses[0] - 0.1);
    for (let s = 1; s < 8; s++) expect(losses[s]).toBeLessThan(losses[s - 1] + 0.02);
    opt.dispose();
    net.dispose();
  });
});
