// The engine's device face: useDevice applies threads and math modes for later ops (a second
// call with other settings takes effect: they are not read once), info reports them, a GPU that
// is not there is a VNET_E_DEVICE error, graph capture on the CPU fails leaving nothing open,
// and the runner and CLI reach the binding only through the engine.
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../../src/engine/index.js';

const before = E.info();
afterAll(() => E.useDevice({ threads: before.threads, tf32: before.tf32, deterministic: before.deterministic }));

test('threads and math modes take effect for later calls, each time they are set', () => {
  expect(E.useDevice({ device: 'cpu', threads: 1, tf32: false, deterministic: true })).toBe('cpu');
  expect(E.info()).toMatchObject({ threads: 1, tf32: false, deterministic: true });
  E.useDevice({ threads: 2, tf32: true, deterministic: false });
  expect(E.info()).toMatchObject({ threads: 2, tf32: true, deterministic: false });
  // Keys left out stay as they are.
  E.useDevice({ tf32: false });
  expect(E.info()).toMatchObject({ threads: 2, tf32: false, deterministic: false });
  expect(typeof E.info().addon.path).toBe('string');
});

test('bad settings and a missing GPU are errors with codes', () => {
  const code = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as { code?: string }).code; } return 'no error'; };
  expect(code(() => E.useDevice({ threads: 0 }))).toBe('VNET_E_INVALID_ARG');
  expect(code(() => E.useDevice({ device: 'tpu' as E.DeviceName }))).toBe('VNET_E_DEVICE');
  if (E.info().cudaAvailable) return void console.log('skipped the no-GPU check: a GPU is present');
  expect(code(() => E.useDevice({ device: 'cuda' }))).toBe('VNET_E_DEVICE');
});

test('captureGraph of CPU work is an error that leaves no capture open', () => {
  const x = E.tensor([1, -2, 3], [3]);
  expect(() => E.captureGraph(() => { E.relu(x).dispose(); })).toThrow();
  // The engine still runs ops normally afterwards.
  expect(Array.from(E.relu(x).toArray())).toEqual([1, 0, 3]);
  x.dispose();
});

test('writeInto overwrites a tensor in place', () => {
  const t = E.zeros([4]);
  E.writeInto(t, Float32Array.from([1, 2, 3, 4]));
  expect(Array.from(t.toArray())).toEqual([1, 2, 3, 4]);
  t.dispose();
});

test('the collective needs a GPU communicator: a clear error without one', () => {
  if (E.info().cudaAvailable) return void console.log('skipped: a GPU is present');
  expect(() => E.collective.uniqueId()).toThrow(expect.objectContaining({ code: expect.stringMatching(/^VNET_E_/) }));
});

test('the runner and the CLI do not import the binding', () => {
  const offenders: string[] = [];
  for (const dir of ['src/runner', 'src/cli']) {
    for (const f of fs.readdirSync(dir)) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      if (/bindings\/native|E\.native\b|process\.env\.VNET_(TF32|DETERMINISTIC)/.test(text)) offenders.push(`${dir}/${f}`);
    }
  }
  expect(offenders).toEqual([]);
});
