// Memory and error behaviour: no growth over many forward/backward steps, and bad arguments
// raise JS errors with codes while the process keeps running.
import { native } from '../../bindings/native.js';
import * as E from '../../src/engine/index.js';
import { testDevices } from './devices.js';

const devices = testDevices();

describe.each(devices)('memory on %s', (dev) => {
  test('live tensors and bytes stay flat over many forward/backward steps', () => {
    const w = E.glorotUniform([3, 3, 3, 2, 4], 7, dev);
    w.requiresGrad = true;
    const b = E.tensor(new Float32Array(4), [4], { device: dev, requiresGrad: true });
    const bn = { gamma: E.fill([4], 1, dev), beta: E.zeros([4], { device: dev }), runningMean: E.zeros([4], { device: dev }), runningVar: E.fill([4], 1, dev) };
    bn.gamma.requiresGrad = bn.beta.requiresGrad = true;
    const labels = E.tensor(Int32Array.from({ length: 2 * 4 * 4 * 4 }, (_, i) => i % 4), [2, 4, 4, 4], { device: dev });
    const step = () => E.tidy(() => {
      const x = E.randomUniform([2, 4, 4, 4, 2], -1, 1, 3, dev);
      const y = E.relu(E.batchNorm(E.biasAdd(E.conv3d(x, w), b), bn, { training: true }));
      const { loss } = E.diceLoss(y, labels);
      E.backward(loss);
      for (const p of [w, b, bn.gamma, bn.beta]) E.runOp('axpy', [p.grad!, p], { alpha: -1e-3 });
    });
    for (let i = 0; i < 5; i++) step();
    const before = E.memory()[dev];
    for (let i = 0; i < 200; i++) step();
    const after = E.memory()[dev];
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });

  test('dispose frees at once and tidy keeps what it returns', () => {
    const base = E.memory()[dev];
    const kept = E.tidy(() => {
      E.zeros([1000], { device: dev });
      return E.fill([10], 1, dev);
    });
    expect(E.memory()[dev].tensors).toBe(base.tensors + 1);
    kept.dispose();
    kept.dispose(); // twice is fine
    expect(E.memory()[dev].tensors).toBe(base.tensors);
  });
});

describe('bad arguments become JS errors with codes', () => {
  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'no error';
  };

  test('mismatched shapes', () => {
    const x = E.zeros([1, 4, 4, 4, 3]), w = E.zeros([3, 3, 3, 2, 5]);
    expect(codeOf(() => E.conv3d(x, w))).toBe('VNET_E_SHAPE');
    expect(codeOf(() => E.add(E.zeros([2, 3]), E.zeros([3, 2])))).toBe('VNET_E_SHAPE');
    expect(codeOf(() => E.concat(E.zeros([2, 3]), E.zeros([3, 3])))).toBe('VNET_E_SHAPE');
    expect(codeOf(() => E.tensor([1, 2, 3], [2, 2]))).toBe('VNET_E_SHAPE');
    const err = (() => { try { E.conv3d(x, w); } catch (e) { return e as Error; } })();
    expect(err?.message).toMatch(/conv3d_fprop\(f32\[1,4,4,4,3\]@cpu, f32\[3,3,3,2,5\]@cpu\)/);
  });

  test('wrong dtype', () => {
    const labels = E.tensor(new Float32Array(8), [1, 2, 2, 2]);
    expect(codeOf(() => E.diceLoss(E.zeros([1, 2, 2, 2, 3]), labels))).toBe('VNET_E_DTYPE');
    expect(codeOf(() => E.relu(E.tensor(new Int32Array(4), [4])))).toBe('VNET_E_DTYPE');
  });

  test('disposed tensor', () => {
    const x = E.zeros([4]);
    x.dispose();
    expect(codeOf(() => E.relu(x))).toBe('VNET_E_DISPOSED');
    expect(codeOf(() => x.toArray())).toBe('VNET_E_DISPOSED');
  });

  test('unknown op, bad attributes, bad device', () => {
    expect(codeOf(() => E.runOp('no_such_op', []))).toBe('VNET_E_INVALID_ARG');
    expect(codeOf(() => E.runOp('split', [E.zeros([2, 3])], { first: 7 }))).toBe('VNET_E_INVALID_ARG');
    expect(codeOf(() => E.runOp('conv3d_dgrad', [E.zeros([1, 2, 2, 2, 3]), E.zeros([3, 3, 3, 2, 3])], {}))).toBe('VNET_E_INVALID_ARG');
    expect(codeOf(() => E.zeros([2], { device: 'tpu' as E.DeviceName }))).toBe('VNET_E_DEVICE');
  });

  test('the process keeps running after native errors', () => {
    for (let i = 0; i < 100; i++) expect(codeOf(() => E.add(E.zeros([2]), E.zeros([3])))).toBe('VNET_E_SHAPE');
    expect(Array.from(E.relu(E.tensor([-1, 2], [2])).toArray())).toEqual([0, 2]);
  });
});

describe('coverage: every op the V-Net uses has a kernel on every built device', () => {
  test('kernel table', () => {
    const info = E.info();
    for (const op of native.ops()) {
      expect([op.name, op.cpu]).toEqual([op.name, true]);
      if (info.cudaCompiled) expect([op.name, op.cuda]).toEqual([op.name, true]);
    }
  });

  test.each(devices)('every differentiable V-Net op records a gradient on %s', (dev) => {
    E.tidy(() => {
      const x = E.randomUniform([1, 4, 4, 4, 1], -1, 1, 1, dev);
      x.requiresGrad = true;
      const w = (s: number[]) => { const t = E.glorotUniform(s, 2, dev); t.requiresGrad = true; return t; };
      const bn = { gamma: E.fill([2], 1, dev), beta: E.zeros([2], { device: dev }), runningMean: E.zeros([2], { device: dev }), runningVar: E.fill([2], 1, dev) };
      const a = E.add(E.relu(E.batchNorm(E.biasAdd(E.conv3d(x, w([3, 3, 3, 1, 2])), E.zeros([2], { device: dev })), bn, { training: true })), x);
      const d = E.conv3d(a, w([2, 2, 2, 2, 2]), { stride: [2, 2, 2] });
      const u = E.conv3dTranspose(d, w([2, 2, 2, 2, 2]), { stride: [2, 2, 2] });
      const cat = E.concat(u, a);
      const logits = E.conv3d(cat, w([3, 3, 3, 4, 3]));
      const { loss } = E.diceLoss(logits, E.tensor(new Int32Array(64), [1, 4, 4, 4], { device: dev }));
      const ops: string[] = [];
      for (let t: E.Tensor | null = loss; t; ) { // walk the first-input chain for op names
        if (!t.node) break;
        ops.push(t.node.op);
        t = t.node.inputs[0];
      }
      expect(ops).toEqual(expect.arrayContaining(['diceLoss', 'conv3d', 'concat', 'conv3dTranspose', 'add', 'relu', 'batchNorm', 'biasAdd']));
      E.backward(loss);
      expect(x.grad).not.toBeNull();
      expect(Array.from(x.grad!.toArray()).some((v) => v !== 0)).toBe(true);
    });
  });
});
