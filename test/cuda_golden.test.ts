// The golden V-Net check, CPU against CUDA (bench/gpu/golden.ts); skipped with the reason
// printed where no GPU is usable, and run by bench/gpu/check.sh on the GPU machine.
import { native } from '../bindings/native.js';
import { goldenVNet } from '../bench/gpu/golden.js';

const info = native.info();

test('small V-Net: loss, every gradient by name and weights after RMSProp steps match CPU', () => {
  if (!info.cudaAvailable) {
    console.log(`skipped: no CUDA device (${info.cudaUnavailableReason ?? 'unknown'})`);
    return;
  }
  const bad = goldenVNet().filter((r) => !r.pass).map((r) => `${r.name}: ${r.err.toExponential(2)} > ${r.tol}`);
  expect(bad).toEqual([]);
});

test('the golden harness itself: CPU against CPU agrees exactly', () => {
  const res = goldenVNet(2, 'cpu');
  expect(res.length).toBeGreaterThan(20);
  expect(res.filter((r) => r.err !== 0)).toEqual([]);
});
