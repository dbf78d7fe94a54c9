// The library under worker threads and a hostile VNET_ADDON: terminating a worker in the middle
// of engine ops ends that worker only (the process goes on), and VNET_ADDON pointing at a device,
// a script or any other non-library file is a clear VNET_E_NOT_BUILT naming it: nothing is read
// without end and nothing is run as JavaScript.
import fs from 'node:fs';
import path from 'node:path';
import { CASE_LIMIT_MS, expectRefused, lib, requireBuilt, tmp } from './helpers.js';

requireBuilt();

test('terminating worker threads that run engine ops never aborts the process (5 of 5)', () => {
  const o = lib(`const { Worker } = await import('node:worker_threads');
    let ended = 0;
    for (let i = 0; i < 5; i++) {
      const w = new Worker(\`const E = await import(\${JSON.stringify(D + '/engine/index.js')});
        const { parentPort } = await import('node:worker_threads');
        parentPort.postMessage('go');
        for (;;) { const a = E.zeros([64, 64]); const b = E.softmax(a); b.dispose(); a.dispose(); }\`, { eval: true });
      await new Promise((r) => w.once('message', r));
      await new Promise((r) => setTimeout(r, 100 + 37 * i));
      await w.terminate();
      ended++;
    }
    const E = await import(D + '/engine/index.js');
    return ended + ' ' + E.softmax(E.zeros([1, 4])).toArray()[0];`, { timeoutMs: 50_000 });
  expect([o.signal, o.exit, o.result]).toEqual([null, 0, { ok: true, value: '5 0.25' }]);
}, CASE_LIMIT_MS);

test('VNET_ADDON naming a device, a script or a text file is refused by name, without reading it whole or running it', () => {
  const dir = tmp('addon');
  const script = path.join(dir, 'evil.node');
  const marker = path.join(dir, 'ran');
  fs.writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};`);
  const text = path.join(dir, 'notes.txt');
  fs.writeFileSync(text, 'just text\n');
  for (const [file, why] of [['/dev/zero', 'not a regular file'], [script, 'no shared-library header'], [text, 'no shared-library header'], [dir, 'not a regular file']]) {
    const o = lib(`await import(D + '/engine/index.js');`, { env: { VNET_ADDON: file }, timeoutMs: 15_000 });
    expectRefused(o, { exit: 0, code: 'VNET_E_NOT_BUILT', names: [`VNET_ADDON=${file}`, why], maxMs: 10_000, maxRssMb: 300 });
  }
  expect(fs.existsSync(marker)).toBe(false);
}, CASE_LIMIT_MS);
