// The launcher of `--gpus N` counts the GPUs in a child process, so it holds no CUDA context on
// any GPU while the ranks train (a context is about 0.5 GB of each GPU). Checked on the host
// shim, whose runtime logs every context it creates with the creating process's id.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST, hostEnv, skipHost } from './helpers.js';

function launcherCheck(code: string, extra: Record<string, string>): { out: string; contexts: string[][] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-launcher-'));
  try {
    const log = path.join(dir, 'host.log');
    const script = `const { checkParallel } = await import(${JSON.stringify(path.join(DIST, 'src', 'config', 'device.js'))});
      const E = await import(${JSON.stringify(path.join(DIST, 'src', 'engine', 'index.js'))});
      try { ${code}; console.log('OK ' + process.pid); } catch (e) { console.log((e.code ?? 'Error') + ' ' + e.message + ' ' + process.pid); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: hostEnv({ VNET_HOST_CUDA_LOG: log, ...extra }), encoding: 'utf8', timeout: 120000 });
    const contexts = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('context ')).map((l) => l.split(' ').slice(1)) : [];
    return { out: (r.stdout + r.stderr).trim(), contexts };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const pidOf = (out: string) => out.split(' ').pop();

test('checkParallel finds 2 GPUs and NCCL through a child process; the launcher itself creates no context', () => {
  if (skipHost()) return;
  const r = launcherCheck('checkParallel({ gpus: 2, device: "cuda" })', { VNET_HOST_CUDA_DEVICES: '2' });
  expect(r.out).toMatch(/^OK \d+$/);
  const launcher = pidOf(r.out);
  expect(r.contexts.filter(([pid]) => pid === launcher)).toEqual([]);
  // The query did look at both GPUs, from another (now finished) process.
  expect(r.contexts.filter(([pid]) => pid !== launcher).map(([, dev]) => dev).sort()).toEqual(['0', '1']);
});

test('for contrast: the same query in-process leaves a context on every GPU of this process', () => {
  if (skipHost()) return;
  const r = launcherCheck('E.doctor()', { VNET_HOST_CUDA_DEVICES: '2' });
  const me = pidOf(r.out);
  expect(r.contexts.filter(([pid]) => pid === me).map(([, dev]) => dev).sort()).toEqual(['0', '1']);
});

test('too few GPUs, no NCCL, a driver too old: clear errors before any rank starts', () => {
  if (skipHost()) return;
  expect(launcherCheck('checkParallel({ gpus: 4, device: "cuda" })', { VNET_HOST_CUDA_DEVICES: '2' }).out).toMatch(/^VNET_E_DEVICE --gpus 4: only 2 GPU\(s\) on this machine/);
  expect(launcherCheck('checkParallel({ gpus: 2, device: "cuda" })', { VNET_HOST_CUDA_DEVICES: '2', VNET_NCCL_PATH: '/nonexistent/libnccl.so.2' }).out)
    .toMatch(/^VNET_E_LIBRARY --gpus 2: NCCL is needed .*\/nonexistent\/libnccl\.so\.2/s);
  expect(launcherCheck('checkParallel({ gpus: 2, device: "cuda" })', { VNET_HOST_CUDA_DRIVER: '12080' }).out)
    .toMatch(/^VNET_E_DEVICE --gpus 2: no usable GPU \(.*driver.*too old/i);
});
