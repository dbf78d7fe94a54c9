// Data parallel training: the launcher that starts one process per rank, and the CPU
// communicator the ranks use over a small TCP rendezvous (rank 0 listens; the others connect).
// Which rank a process is comes from its launcher's environment (rankFromEnv, src/env.ts).
// Gradients are averaged with one all-reduce over a flat buffer; rank 0's weights are
// broadcast at the start. The same rendezvous would carry NCCL's unique id for GPU ranks.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { RunError } from '../config/options.js';
import { envValue, launcherEnv, type RankInfo } from '../env.js';

// Frames: [u32 byteLength][payload], payload a Float32Array's bytes.
class FramedSocket {
  // Received chunks, kept as a list: concatenating on every chunk would copy a 14 MB gradient
  // frame hundreds of times.
  private chunks: Buffer[] = [];
  private queued = 0;
  private waiters: ((b: Buffer) => void)[] = [];
  private failed?: Error;
  private failWaiters: ((e: Error) => void)[] = [];

  constructor(readonly sock: net.Socket, readonly peer: string) {
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.chunks.push(d);
      this.queued += d.length;
      this.drain();
    });
    const fail = (why: string) => {
      if (this.failed) return;
      this.failed = new RunError(`${peer}: ${why}`, 'VNET_E_RANK');
      for (const f of this.failWaiters) f(this.failed);
      this.failWaiters = [];
    };
    sock.on('error', (e) => fail(e.message));
    sock.on('close', () => fail('connection closed (did that rank exit?)'));
  }

  /** The first `n` queued bytes as one buffer, removed from the queue. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.queued -= n;
    return out;
  }

  /** The next frame's length; a header split across chunks is joined first (rare). */
  private peekLength(): number {
    if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].readUInt32LE(0);
  }

  private drain(): void {
    while (this.waiters.length && this.queued >= 4) {
      const n = this.peekLength();
      if (this.queued < 4 + n) return;
      this.take(4);
      const frame = this.take(n);
      this.failWaiters.shift();
      this.waiters.shift()!(frame);
    }
  }

  send(data: Uint8Array): void {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(data.byteLength, 0);
    this.sock.write(head);
    this.sock.write(data);
  }

  recv(): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.failWaiters.push(reject);
      this.drain();
    });
  }
}

const asBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const asFloats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** A star all-reduce over TCP: rank 0 sums and sends back. Enough for CPU ranks on one host. */
export class TcpCommunicator {
  private constructor(readonly rank: number, readonly world: number, private peers: FramedSocket[], private server?: net.Server) {}

  static async connect(info: RankInfo, timeoutMs = 60_000): Promise<TcpCommunicator> {
    tieToLauncher();
    if (info.world === 1) return new TcpCommunicator(0, 1, []);
    if (info.rank === 0) {
      const server = net.createServer();
      const peers: FramedSocket[] = new Array(info.world - 1);
      let joined = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new RunError(`rank 0: only ${joined} of ${info.world - 1} ranks joined within ${timeoutMs / 1000} s`, 'VNET_E_RANK')), timeoutMs);
        server.on('error', (e) => reject(new RunError(`rank 0 cannot listen on ${info.masterAddr}:${info.masterPort}: ${e.message}`, 'VNET_E_RANK')));
        server.on('connection', (sock) => {
          sock.once('data', (d) => {
            const r = d.readUInt32LE(0);
            peers[r - 1] = new FramedSocket(sock, `rank ${r}`);
            if (d.length > 4) sock.unshift(d.subarray(4));
            if (++joined === info.world - 1) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        server.listen(info.masterPort, info.masterAddr);
      });
      return new TcpCommunicator(0, info.world, peers, server);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(info.masterPort, info.masterAddr, () => resolve(s));
          s.once('error', reject);
        });
        const hello = Buffer.alloc(4);
        hello.writeUInt32LE(info.rank, 0);
        sock.write(hello);
        return new TcpCommunicator(info.rank, info.world, [new FramedSocket(sock, 'rank 0')]);
      } catch (e) {
        if (Date.now() > deadline) throw new RunError(`rank ${info.rank} could not reach rank 0 at ${info.masterAddr}:${info.masterPort}: ${(e as Error).message}`, 'VNET_E_RANK');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async allReduceMean(buf: Float32Array): Promise<void> {
    if (this.world === 1) return;
    if (this.rank === 0) {
      const parts = await Promise.all(this.peers.map((p) => p.recv()));
      const sum = new Float64Array(buf.length);
      for (let i = 0; i < buf.length; i++) sum[i] = buf[i];
      for (const part of parts) {
        const f = asFloats(part);
        if (f.length !== buf.length) throw new RunError(`all-reduce size mismatch: ${f.length} vs ${buf.length}`, 'VNET_E_RANK');
        for (let i = 0; i < f.length; i++) sum[i] += f[i];
      }
      for (let i = 0; i < buf.length; i++) buf[i] = sum[i] / this.world;
      for (const p of this.peers) p.send(asBytes(buf));
    } else {
      this.peers[0].send(asBytes(buf));
      buf.set(asFloats(await this.peers[0].recv()));
    }
  }

  /** Rank 0's bytes to every rank (NCCL's unique id travels this way). */
  async broadcastBytes(bytes: Uint8Array): Promise<Uint8Array> {
    if (this.world === 1) return bytes;
    if (this.rank === 0) {
      for (const p of this.peers) p.send(bytes);
      return bytes;
    }
    return new Uint8Array(await this.peers[0].recv());
  }

  async broadcast(buf: Float32Array): Promise<void> {
    if (this.world === 1) return;
    if (this.rank === 0) for (const p of this.peers) p.send(asBytes(buf));
    else buf.set(asFloats(await this.peers[0].recv()));
  }

  /** Flushes what is still being sent (the last all-reduce's result), then closes. */
  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => new Promise<void>((resolve) => {
      if (p.sock.destroyed) return resolve();
      const t = setTimeout(() => { p.sock.destroy(); resolve(); }, 10_000);
      p.sock.end(() => { clearTimeout(t); resolve(); });
    })));
    this.server?.close();
  }
}

let tied = false;

/**
 * A rank lives only as long as its launcher: the launcher holds one end of a pipe on the rank's
 * fd VNET_LAUNCHER_FD, and when the launcher goes away, even by SIGKILL, the kernel closes it
 * and the rank stops instead of training on and rewriting checkpoints. (Checkpoints are written
 * by rename, so stopping at any point leaves the previous one intact.)
 */
export function tieToLauncher(): void {
  const fdVar = envValue('VNET_LAUNCHER_FD');
  if (tied || fdVar === undefined) return;
  tied = true;
  const fd = Number(fdVar);
  let link: net.Socket;
  try {
    link = new net.Socket({ fd, readable: true, writable: false });
  } catch (e) {
    throw new RunError(`rank: cannot watch the launcher on fd ${fd}: ${(e as Error).message}`, 'VNET_E_RANK');
  }
  const gone = () => {
    process.stderr.write(`vnet-native: rank ${envValue('VNET_RANK')}: the launcher is gone; stopping\n`);
    process.exit(1);
  };
  link.on('data', () => {});
  link.once('end', gone);
  link.once('error', gone);
  link.unref();
}

/**
 * Starts `nproc` ranks of this same command line and waits. A rank that fails ends the whole
 * job: the others are stopped, and the first failure's exit code is returned with its rank.
 */
export async function launchRanks(nproc: number, opts: { nnodes?: number; nodeRank?: number; masterAddr?: string; masterPort?: number; argv?: string[] } = {}): Promise<number> {
  const nnodes = opts.nnodes ?? 1, nodeRank = opts.nodeRank ?? 0;
  const masterAddr = opts.masterAddr ?? '127.0.0.1';
  const masterPort = opts.masterPort ?? 29500 + Math.floor(Math.random() * 1000);
  const argv = opts.argv ?? process.argv.slice(1);
  const children: ChildProcess[] = [];
  let failure: { rank: number; code: number } | undefined;
  const stopAll = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    setTimeout(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); }, 5000).unref();
  };
  const onSignal = () => stopAll();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const exits = Array.from({ length: nproc }, (_, local) => {
    const rank = nodeRank * nproc + local;
    const child = spawn(process.execPath, argv, {
      // fd 3: the pipe that ties the rank to this process's life (tieToLauncher).
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, ...launcherEnv({ rank, localRank: local, world: nproc * nnodes, masterAddr, masterPort }, 3) },
    });
    children.push(child);
    return new Promise<void>((resolve) => child.on('exit', (code, signal) => {
      const c = code ?? (signal ? 128 : 1);
      if (c !== 0 && !failure) {
        failure = { rank, code: c };
        process.stderr.write(`vnet-native: rank ${rank} exited with ${signal ? `signal ${signal}` : `code ${c}`}; stopping the other ranks\n`);
        stopAll();
      }
      resolve();
    }));
  });
  await Promise.all(exits);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return failure ? failure.code : 0;
}

/** This rank's slice of a global batch: samples [rank·perRank, (rank+1)·perRank). */
export function shardOf<T extends { images: Float32Array; labels?: Int32Array; ids?: string[] }>(b: T, rank: number, perRank: number, voxels: number, channels = 1): { images: Float32Array; labels?: Int32Array; ids?: string[] } {
  const lo = rank * perRank, hi = lo + perRank;
  return {
    images: b.images.subarray(lo * voxels * channels, hi * voxels * channels),
    labels: b.labels?.subarray(lo * voxels, hi * voxels),
    ids: b.ids?.slice(lo, hi),
  };
}
