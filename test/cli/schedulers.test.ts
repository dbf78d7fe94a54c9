// Launch under existing schedulers: a process started by torchrun, srun (Slurm) or mpirun
// (OpenMPI) finds its rank, the world size and rank 0's address in the scheduler's environment
// and joins the job with no extra flags. Two CPU ranks per convention train like one process at
// the global batch; the environment is read as each scheduler writes it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { firstHost, rankFromEnv } from '../../src/env.js';
import { readSafetensors } from '../../src/infer/safetensors.js';
import { CLI, SMALL_NET, realSubset, requireBuilt, runCli, tmpDir } from './helpers.js';

describe('rankFromEnv', () => {
  test('torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT', () => {
    expect(rankFromEnv({ RANK: '9', WORLD_SIZE: '16', LOCAL_RANK: '1', MASTER_ADDR: 'node01', MASTER_PORT: '29400' }))
      .toEqual({ rank: 9, world: 16, localRank: 1, masterAddr: 'node01', masterPort: 29400 });
    // With torchrun's agent store on MASTER_PORT the rendezvous takes the next port.
    expect(rankFromEnv({ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: '29400', TORCHELASTIC_USE_AGENT_STORE: 'True' })?.masterPort).toBe(29401);
  });

  test('Slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, rank 0 on the first host of the node list, a port per job', () => {
    const env = { SLURM_PROCID: '11', SLURM_NTASKS: '32', SLURM_LOCALID: '3', SLURM_STEP_ID: '0', SLURM_JOB_ID: '123456', SLURM_JOB_NODELIST: 'gpu[07-10,12]' };
    expect(rankFromEnv(env)).toEqual({ rank: 11, world: 32, localRank: 3, masterAddr: 'gpu07', masterPort: 29500 + 3456 });
    expect(rankFromEnv({ ...env, MASTER_ADDR: 'head', MASTER_PORT: '4000' })).toMatchObject({ masterAddr: 'head', masterPort: 4000 });
    // The batch script itself (no srun step) is not a rank.
    const { SLURM_STEP_ID: _, ...batch } = env;
    expect(rankFromEnv(batch)).toBeUndefined();
  });

  test('OpenMPI: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK; across nodes MASTER_ADDR is required', () => {
    const env = { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2' };
    expect(rankFromEnv(env)).toEqual({ rank: 1, world: 2, localRank: 1, masterAddr: '127.0.0.1', masterPort: 29500 });
    expect(() => rankFromEnv({ ...env, OMPI_COMM_WORLD_SIZE: '16' })).toThrow(/-x MASTER_ADDR/);
    expect(rankFromEnv({ ...env, OMPI_COMM_WORLD_SIZE: '16', MASTER_ADDR: 'n0', MASTER_PORT: '7000' })).toMatchObject({ world: 16, masterAddr: 'n0', masterPort: 7000 });
  });

  test('precedence: our launcher, then torchrun, then mpirun, then Slurm (they run inside Slurm jobs)', () => {
    const slurm = { SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_STEP_ID: '0', SLURM_JOB_NODELIST: 'n1' };
    expect(rankFromEnv({ ...slurm, RANK: '2', WORLD_SIZE: '4' })?.rank).toBe(2);
    expect(rankFromEnv({ ...slurm, OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4' })?.rank).toBe(3);
    expect(rankFromEnv({ ...slurm, RANK: '2', WORLD_SIZE: '4', VNET_RANK: '1', VNET_WORLD_SIZE: '2', VNET_MASTER_PORT: '1234' })?.rank).toBe(1);
    expect(rankFromEnv({})).toBeUndefined();
  });

  test('bad values are clear VNET_E_RANK errors naming the variable', () => {
    const code = (env: NodeJS.ProcessEnv) => { try { rankFromEnv(env); } catch (e) { return `${(e as { code?: string }).code} ${(e as Error).message}`; } return 'no error'; };
    expect(code({ RANK: 'x', WORLD_SIZE: '2' })).toMatch(/^VNET_E_RANK RANK=x/);
    expect(code({ RANK: '2', WORLD_SIZE: '2' })).toMatch(/^VNET_E_RANK .*rank 2 is not below the world size 2/);
    expect(code({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' })).toMatch(/port 70000/);
  });

  test('firstHost reads Slurm host lists', () => {
    expect(firstHost('node[01-04,07]')).toBe('node01');
    expect(firstHost('node[01-04,07],login5')).toBe('node01');
    expect(firstHost('login5,node[1-2]')).toBe('login5');
    expect(firstHost('rack[2-3]-n[007,009]')).toBe('rack2-n007');
    expect(firstHost('single')).toBe('single');
    expect(() => firstHost('bad[1-2')).toThrow(/Slurm node list/);
  });
});

describe('CPU ranks started the way each scheduler starts them', () => {
  requireBuilt();
  const data = realSubset(8, 0);
  const common = ['train', '--data_dir', data, ...SMALL_NET, '--normalization_layer', 'none', '--train_epochs', '1', '--seed', '3', '--device', 'cpu', '--progress', 'false'];
  const root = tmpDir('sched');
  let reference: Map<string, { data: ArrayLike<number> }>;

  beforeAll(() => {
    const one = runCli([...common, '--model_dir', path.join(root, 'one'), '--batch_size', '2']);
    expect(one.code).toBe(0);
    reference = readSafetensors(path.join(root, 'one', 'final.safetensors')).tensors;
  });

  /** Two ranks of the same command, each with its scheduler's variables; resolves to their exits. */
  const launch = (modelDir: string, envOf: (rank: number) => Record<string, string>) =>
    Promise.all([0, 1].map((rank) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...common, '--model_dir', modelDir, '--batch_size', '1'], {
        env: { ...process.env, VNET_NUM_THREADS: '1', ...envOf(rank) }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    })));

  const port = () => String(31000 + Math.floor(Math.random() * 2000));
  test.each([
    ['torchrun', (p: string) => (r: number) => ({ RANK: String(r), WORLD_SIZE: '2', LOCAL_RANK: String(r), LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: p })],
    ['srun', (p: string) => (r: number) => ({ SLURM_PROCID: String(r), SLURM_NTASKS: '2', SLURM_LOCALID: String(r), SLURM_STEP_ID: '0', SLURM_JOB_ID: '42', SLURM_JOB_NODELIST: 'localhost', MASTER_PORT: p })],
    ['mpirun', (p: string) => (r: number) => ({ OMPI_COMM_WORLD_RANK: String(r), OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: String(r), OMPI_COMM_WORLD_LOCAL_SIZE: '2', MASTER_PORT: p })],
  ])('%s: 2 ranks at batch 1 give the weights of one process at batch 2; only rank 0 writes', async (name, envFor) => {
    const m = path.join(root, name);
    const [r0, r1] = await launch(m, envFor(port()));
    expect([r0.code, r1.code, r0.stderr.slice(-400)]).toEqual([0, 0, expect.anything()]);
    expect(r0.stderr).toMatch(/x 2 ranks/);
    expect(r1.stderr).not.toMatch(/training on/);
    const got = readSafetensors(path.join(m, 'final.safetensors')).tensors;
    let worst = 0;
    for (const [k, t] of reference) {
      const u = got.get(k)!;
      for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(fs.readdirSync(m).filter((f) => f.includes('rank'))).toEqual([]);
  });
});
