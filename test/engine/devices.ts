// The devices tests run on: the CPU always, CUDA when this build and machine have it (the
// reason is printed when it is skipped, so nothing passes silently).
import { native } from '../../bindings/native.js';
import type { DeviceName } from '../../src/engine/index.js';

export function testDevices(): DeviceName[] {
  const info = native.info();
  if (info.cudaAvailable) return ['cpu', 'cuda'];
  // eslint-disable-next-line no-console
  console.log(`skipped on cuda: ${info.cudaUnavailableReason ?? 'no CUDA device'}`);
  return ['cpu'];
}

export const testSeed = Number(process.env.VNET_TEST_SEED ?? Date.now() % 1e9);
