// Shape flags of `bench conv`: parsing, the errors that name their flag, the engine geometry
// of plain and transposed problems, and the dense FLOP count (2 per multiply-add).
import { BenchInputError, VNET_LAYERS, denseFlops, denseMacs, engineCall, geometry, makeProblem, operandShapes, parseInput } from '../../src/bench/problem.js';

const prob = (o: Partial<{ input: string; filters: number; kernel: string; stride: string; pad: string; transposed: boolean }>) =>
  makeProblem({ input: '2,8,8,8,4', filters: 6, kernel: '3', stride: '1', pad: 'same', transposed: false, ...o });

describe('shape parsing', () => {
  test('--input takes five positive integers (NDHWC)', () => {
    expect(parseInput('2,16,8,4,3')).toEqual([2, 16, 8, 4, 3]);
    for (const bad of ['2,16,8,4', '2,16,8,4,3,1', '2,16,x,4,3', '2,0,8,4,3', '2,-1,8,4,3', '2,1.5,8,4,3', ''])
      expect(() => parseInput(bad)).toThrow(/--input/);
  });

  test('--kernel and --stride take one value or three', () => {
    expect(prob({ kernel: '3,1,5', pad: 'valid' }).kernel).toEqual([3, 1, 5]);
    expect(prob({ stride: '2' }).stride).toEqual([2, 2, 2]);
    expect(() => prob({ kernel: '3,3' })).toThrow(/--kernel.*1 or 3 values/);
    expect(() => prob({ stride: '0' })).toThrow(/--stride/);
  });

  test('a kernel larger than the padded input is refused, naming --kernel', () => {
    expect(() => prob({ input: '1,4,4,4,2', kernel: '5', pad: 'valid' })).toThrow(BenchInputError);
    expect(() => prob({ input: '1,4,4,4,2', kernel: '5', pad: 'valid' })).toThrow(/--kernel: 5 is larger than the padded --input/);
    expect(() => prob({ input: '1,4,4,4,2', kernel: '7', pad: '1' })).toThrow(/--kernel|--pad/);
    // 'same' pads enough for any kernel
    expect(() => prob({ input: '1,4,4,4,2', kernel: '5' })).not.toThrow();
  });

  test('--pad: same, valid, p, or three numbers; a pad of the kernel size or more is refused', () => {
    expect(geometry(prob({ pad: '1,0,2', kernel: '3' }), 2).padFront).toEqual([1, 0, 2]);
    expect(() => prob({ pad: '3' })).toThrow(/--pad: 3 must be smaller than the kernel/);
    expect(() => prob({ pad: 'full' })).toThrow(/--pad/);
  });
});

describe('geometry and FLOPs', () => {
  test("'same' with stride 2 pads like TensorFlow (out = ceil(in/s), the extra pad at the back)", () => {
    const g = geometry(prob({ input: '1,9,8,8,4', kernel: '3', stride: '2' }), 1);
    expect(g.ySpatial).toEqual([5, 4, 4]);
    expect(g.padFront).toEqual([1, 0, 0]);
    expect(g.padBack).toEqual([1, 1, 1]);
  });

  test('strided, padded conv: N · output voxels · K · taps · C, counting the zero padding', () => {
    const g = geometry(prob({ input: '2,9,9,9,4', filters: 6, kernel: '3', stride: '2', pad: '1' }), 2);
    expect(g.ySpatial).toEqual([5, 5, 5]);
    expect(denseMacs(g)).toBe(2 * 125 * 6 * 27 * 4);
    expect(denseFlops(g)).toBe(2 * denseMacs(g));
    const v = geometry(prob({ input: '1,8,8,8,4', filters: 6, kernel: '3', pad: 'valid' }), 1);
    expect(denseMacs(v)).toBe(6 ** 3 * 6 * 27 * 4);
  });

  test('transposed conv: the layer input is the conv output; MACs over the layer input voxels', () => {
    const p = prob({ input: '2,4,4,4,8', filters: 3, kernel: '2', stride: '2', pad: 'same', transposed: true });
    const g = geometry(p, 2);
    expect(g.xSpatial).toEqual([8, 8, 8]);
    expect(g.ySpatial).toEqual([4, 4, 4]);
    expect([g.cx, g.ky]).toEqual([3, 8]);
    expect(denseMacs(g)).toBe(2 * 64 * 8 * 8 * 3); // = output voxels (2·8³) × Cin × Cout for 2³ s2
    const v = geometry(prob({ input: '1,4,4,4,8', filters: 3, kernel: '3', stride: '2', pad: 'valid', transposed: true }), 1);
    expect(v.xSpatial).toEqual([9, 9, 9]); // (4-1)·2 + 3
    const q = geometry(prob({ input: '1,4,4,4,8', filters: 3, kernel: '3', stride: '2', pad: '1', transposed: true }), 1);
    expect(q.xSpatial).toEqual([7, 7, 7]); // (4-1)·2 + 3 - 2
  });

  test("a transposed layer's directions map onto the engine's ops", () => {
    const p = prob({ input: '2,4,4,4,8', filters: 3, kernel: '2', stride: '2', transposed: true });
    const g = geometry(p, 2);
    expect(engineCall(p, g, 'fprop').op).toBe('conv3d_dgrad');
    expect(engineCall(p, g, 'fprop').attrs.in_shape).toEqual([8, 8, 8]);
    expect(engineCall(p, g, 'dgrad').op).toBe('conv3d_fprop');
    expect(engineCall(p, g, 'wgrad')).toMatchObject({ op: 'conv3d_wgrad', inputs: ['x', 'dy'] });
    expect(operandShapes(g)).toEqual({ x: [2, 8, 8, 8, 3], w: [2, 2, 2, 3, 8], dy: [2, 4, 4, 4, 8] });
  });

  test("the V-Net layers' MACs match the spec's table (§1.5) at batch 1", () => {
    const macs = Object.fromEntries(VNET_LAYERS.map((l) => [l.name, denseMacs(geometry(l, 1))]));
    expect(VNET_LAYERS).toHaveLength(13);
    expect(macs['in.conv']).toBe(14_155_776);
    expect(macs['down1.pool']).toBe(16_777_216);
    expect(macs['up1.tconv']).toBe(4_194_304);
    expect(macs['up2.res']).toBe(452_984_832);
    expect(macs['out.tconv']).toBe(33_554_432);
    expect(macs['out.conv']).toBe(42_467_328);
  });
});
