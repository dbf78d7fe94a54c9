// The environment: every VNET_* variable the TypeScript side reads, with what it does, read here
// and nowhere else (the C++ engine reads its own through native/env.cc; the README's table lists
// both). It imports nothing of the project, so every layer, the binding's loader included, may
// use it. Also where this process sits in a job, from its launcher's variables (ours, torchrun's,
// mpirun's, Slurm's).

/** A bad value of an environment variable; `code` as the package's other errors. */
export class EnvError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'EnvError';
  }
}

type Env = Record<string, string | undefined>;

/** Every VNET_* variable read here (a test checks that the README's table lists each). */
export const ENV_VARS = {
  VNET_ADDON: 'the addon file to load, before a source build and the prebuilt',
  VNET_DATA_DIR: "the tests' and demos' default data folder (default ../shared/data/Task04_Hippocampus)",
  VNET_MAX_FILE_MB: 'largest input file read (a volume, a checkpoint), MiB (default 2048)',
  VNET_MAX_JSON_MB: 'largest JSON file read (dataset.json, config.json, split.json), MiB (default 64)',
  VNET_MAX_VOLUME_MB: 'largest decompressed volume a NIfTI header may declare, MiB (default 2048)',
  VNET_MAX_DOWNLOAD_MB: 'largest download without an expected size, MiB (default 4096)',
  VNET_ISA: 'avx512, avx2 or portable: checked before the addon loads (an unknown value is an error; the engine picks the kernels)',
  VNET_NUM_THREADS: "CPU threads (checked by the CLI, 1..256; the engine's default)",
  VNET_DEBUG: 'print the stack of an error the CLI reports',
  VNET_PYTHON: "the Python that runs `bench conv --peer torch` (default python3)",
  VNET_RANK: 'set by the --gpus launcher for each rank: its rank',
  VNET_WORLD_SIZE: 'set by the launcher: the number of ranks',
  VNET_LOCAL_RANK: 'set by the launcher: the rank on this machine (its GPU index)',
  VNET_MASTER_ADDR: "set by the launcher: rank 0's address",
  VNET_MASTER_PORT: "set by the launcher: rank 0's rendezvous port",
  VNET_LAUNCHER_FD: 'set by the launcher: the pipe whose closing stops the rank',
} as const;
export type EnvName = keyof typeof ENV_VARS;

/** The raw value of a listed variable (undefined when unset). */
export function envValue(name: EnvName, env: Env = process.env): string | undefined {
  return env[name];
}

/** A size limit in bytes from its VNET_MAX_*_MB variable, else `dfltMb`. */
export function limitBytes(name: 'VNET_MAX_FILE_MB' | 'VNET_MAX_JSON_MB' | 'VNET_MAX_VOLUME_MB' | 'VNET_MAX_DOWNLOAD_MB', dfltMb: number): number {
  const MiB = 1 << 20;
  const v = process.env[name];
  if (v === undefined || v === '') return dfltMb * MiB;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new EnvError(`${name}=${JSON.stringify(v)} must be a positive number of MiB`, 'VNET_E_BAD_ARGUMENT');
  return Math.floor(n * MiB);
}

/** VNET_NUM_THREADS when set: an integer in 1..max, else an error naming it. */
export function numThreadsFromEnv(max: number): number | undefined {
  const v = process.env.VNET_NUM_THREADS;
  if (v === undefined || v === '') return undefined;
  if (!(/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= max)) throw new EnvError(`VNET_NUM_THREADS=${JSON.stringify(v)} must be an integer in 1..${max}`, 'VNET_E_BAD_FLAG');
  return Number(v);
}

export interface RankInfo {
  rank: number;
  world: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

/** The variables the --gpus launcher gives each rank it starts. */
export function launcherEnv(r: RankInfo, launcherFd: number): Record<string, string> {
  return {
    VNET_LAUNCHER_FD: String(launcherFd), VNET_RANK: String(r.rank), VNET_LOCAL_RANK: String(r.localRank),
    VNET_WORLD_SIZE: String(r.world), VNET_MASTER_ADDR: r.masterAddr, VNET_MASTER_PORT: String(r.masterPort),
  };
}

/**
 * The rank this process is, from its launcher's environment: this package's own (`--gpus N`,
 * VNET_*), torchrun's (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), OpenMPI's
 * mpirun (OMPI_COMM_WORLD_*) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; rank 0
 * on the first host of the step's node list). Checked in that order: torchrun and mpirun run
 * inside Slurm jobs too, and their variables are the ones that name this process. Undefined:
 * not launched as a rank.
 */
export function rankFromEnv(env: Env = process.env): RankInfo | undefined {
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isInteger(n) || n < 0) throw new EnvError(`${name}=${v ?? ''}: expected a non-negative integer`, 'VNET_E_RANK');
    return n;
  };
  const info = (scheme: string, rank: number, world: number, localRank: number, masterAddr: string, masterPort: number): RankInfo => {
    if (world < 1 || rank >= world) throw new EnvError(`${scheme}: rank ${rank} is not below the world size ${world}`, 'VNET_E_RANK');
    if (!(masterPort >= 1 && masterPort <= 65535)) throw new EnvError(`${scheme}: rendezvous port ${masterPort} is not in 1..65535`, 'VNET_E_RANK');
    return { rank, world, localRank, masterAddr, masterPort };
  };
  const port = (name: string, fallback: number) => (env[name] === undefined ? fallback : num(name, env[name]));
  if (env.VNET_RANK !== undefined) {
    const rank = num('VNET_RANK', env.VNET_RANK);
    return info('VNET_RANK', rank, num('VNET_WORLD_SIZE', env.VNET_WORLD_SIZE), env.VNET_LOCAL_RANK === undefined ? rank : num('VNET_LOCAL_RANK', env.VNET_LOCAL_RANK),
      env.VNET_MASTER_ADDR ?? '127.0.0.1', num('VNET_MASTER_PORT', env.VNET_MASTER_PORT));
  }
  if (env.RANK !== undefined && env.WORLD_SIZE !== undefined) {
    // torchrun's agent may keep its own store on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE):
    // the rendezvous then takes the next port.
    const agentStore = env.TORCHELASTIC_USE_AGENT_STORE?.toLowerCase() === 'true' ? 1 : 0;
    return info('torchrun (RANK, WORLD_SIZE)', num('RANK', env.RANK), num('WORLD_SIZE', env.WORLD_SIZE), num('LOCAL_RANK', env.LOCAL_RANK ?? '0'),
      env.MASTER_ADDR ?? '127.0.0.1', port('MASTER_PORT', 29500) + agentStore);
  }
  if (env.OMPI_COMM_WORLD_RANK !== undefined) {
    const world = num('OMPI_COMM_WORLD_SIZE', env.OMPI_COMM_WORLD_SIZE);
    const localSize = env.OMPI_COMM_WORLD_LOCAL_SIZE === undefined ? world : num('OMPI_COMM_WORLD_LOCAL_SIZE', env.OMPI_COMM_WORLD_LOCAL_SIZE);
    // mpirun does not say where rank 0 runs; on one node it is here.
    if (env.MASTER_ADDR === undefined && localSize < world)
      throw new EnvError('mpirun across nodes: pass the host of rank 0 with -x MASTER_ADDR=<host> (and -x MASTER_PORT=<port>, default 29500)', 'VNET_E_RANK');
    return info('mpirun (OMPI_COMM_WORLD_*)', num('OMPI_COMM_WORLD_RANK', env.OMPI_COMM_WORLD_RANK), world,
      num('OMPI_COMM_WORLD_LOCAL_RANK', env.OMPI_COMM_WORLD_LOCAL_RANK ?? '0'), env.MASTER_ADDR ?? '127.0.0.1', port('MASTER_PORT', 29500));
  }
  // Slurm: only inside an srun step (SLURM_STEP_ID); the batch script itself is no rank.
  if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined && (env.SLURM_STEP_ID ?? env.SLURM_STEPID) !== undefined) {
    const nodes = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
    const master = env.MASTER_ADDR ?? (nodes ? firstHost(nodes) : '127.0.0.1');
    // One port per job, the same on every rank, so that two jobs sharing a node do not collide.
    const jobPort = 29500 + (env.SLURM_JOB_ID === undefined ? 0 : num('SLURM_JOB_ID', env.SLURM_JOB_ID) % 10000);
    return info('srun (SLURM_PROCID, SLURM_NTASKS)', num('SLURM_PROCID', env.SLURM_PROCID), num('SLURM_NTASKS', env.SLURM_NTASKS),
      num('SLURM_LOCALID', env.SLURM_LOCALID ?? '0'), master, port('MASTER_PORT', jobPort));
  }
  return undefined;
}

/**
 * The first host of a Slurm host list: `node[01-04,07],gpu5` is node01, `a[2-3]b[7,9]` is a2b7.
 * Each bracket group gives its first value, zero padding kept.
 */
export function firstHost(list: string): string {
  let depth = 0, end = list.length;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === '[') depth++;
    else if (list[i] === ']') depth--;
    else if (list[i] === ',' && depth === 0) { end = i; break; }
  }
  const first = list.slice(0, end).trim();
  const host = first.replace(/\[([^\]]*)\]/g, (_, inner: string) => inner.split(',')[0].split('-')[0].trim());
  if (host === '' || /[[\]]/.test(host)) throw new EnvError(`cannot read the first host of the Slurm node list "${list}"`, 'VNET_E_RANK');
  return host;
}
