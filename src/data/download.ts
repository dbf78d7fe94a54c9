// Dataset download: fetch the MSD tar over http(s) (redirects followed) into a `.part` file,
// resuming with Range requests; check size and sha256; extract into a temporary sibling folder;
// validate; and only then rename it into place. A failed check leaves nothing behind; an
// interrupted transfer leaves only the `.part` file, which the next call resumes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataError } from './errors.js';
import { checkOutputDir, makeDirs } from './outputs.js';
import { proxiedGet, proxyFor } from './proxy.js';
import { LIMITS } from './reader.js';
import { extractTar } from './tar.js';
import { formatProblems, validateDataset, type ValidationResult } from './validate.js';

/** The MSD mirror used by MONAI for Task04_Hippocampus. */
export const DEFAULT_DATASET_URL = 'https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar';

/** Archives whose content is known: the MD5 MONAI's DecathlonDataset checks for this one. */
const KNOWN_MD5: Record<string, string> = { [DEFAULT_DATASET_URL]: '9d24dba78a72977dbd1d2e110310f31b' };

/** Refuses a download of a known archive (when no --sha256 is given) whose MD5 is not the pinned one. */
export async function checkKnownArchive(url: URL, file: string): Promise<void> {
  const want = KNOWN_MD5[url.href];
  if (!want) return;
  const h = crypto.createHash('md5');
  await pipeline(fs.createReadStream(file), h);
  const got = h.digest('hex');
  if (got !== want) throw new DataError('VNET_E_CHECKSUM', `md5 ${got}, but this archive is known as md5 ${want}: the mirror served something else`, url.href);
}

export interface DownloadProgress {
  done: number;
  total?: number;
}

export interface DownloadOptions {
  /** The dataset folder to create (it will hold dataset.json); must not exist or be empty. */
  dataDir: string;
  url?: string;
  expectedSize?: number;
  /** Hex sha256 of the archive. */
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Idle socket timeout; default 60 s. */
  timeoutMs?: number;
  /** Largest archive accepted when expectedSize is not given; default VNET_MAX_DOWNLOAD_MB (4096 MiB). */
  maxBytes?: number;
  /** Keep the archive as `<dataDir>.tar` after extraction; default false. */
  keepArchive?: boolean;
}

export interface DownloadResult {
  dataDir: string;
  bytes: number;
  sha256: string;
  /** Bytes that were already in the `.part` file from an earlier attempt. */
  resumedFrom: number;
  validation: ValidationResult;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

async function get(url: URL, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  const res = await request(url, headers, timeoutMs);
  const loc = res.headers.location;
  if (REDIRECTS.has(res.statusCode ?? 0) && loc) {
    res.resume();
    if (redirects <= 0) throw new DataError('VNET_E_DOWNLOAD', 'too many redirects');
    return get(new URL(loc, url), headers, timeoutMs, redirects - 1);
  }
  return res;
}

/** One GET, directly or through the proxy the environment names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
function request(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<http.IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!mod) return Promise.reject(new DataError('VNET_E_DOWNLOAD', `unsupported URL protocol ${url.protocol}`));
  const proxy = proxyFor(url);
  if (proxy) return proxiedGet(url, proxy, headers, timeoutMs);
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { headers }, resolve);
    req.setTimeout(timeoutMs, () => req.destroy(new DataError('VNET_E_DOWNLOAD', `no data for ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof DataError ? e : new DataError('VNET_E_DOWNLOAD', e.message)));
  });
}

/** Fetch `url` into `part`, resuming from its current size; returns the complete size. */
async function fetchResumable(url: URL, part: string, opts: DownloadOptions): Promise<{ size: number; resumedFrom: number }> {
  let start = partSize(part);
  if (opts.expectedSize !== undefined && start > opts.expectedSize) start = 0;
  if (opts.expectedSize !== undefined && start === opts.expectedSize) return { size: start, resumedFrom: start };
  const res = await get(url, start > 0 ? { Range: `bytes=${start}-` } : {}, opts.timeoutMs ?? 60000);
  let total: number | undefined;
  const status = res.statusCode ?? 0;
  const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  if (status === 206 && range && Number(range[1]) === start) {
    total = range[2] === '*' ? undefined : Number(range[2]);
  } else if (status === 200 || status === 206) {
    if (status === 206) {
      // A range we did not ask for: drop what we have and start over without a Range header.
      res.resume();
      if (start === 0) throw new DataError('VNET_E_DOWNLOAD', `HTTP 206 with an unexpected range from ${url.href}`);
      fs.rmSync(part, { force: true });
      return fetchResumable(url, part, opts);
    }
    start = 0; // the server ignored the Range: start over
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
  } else if (status === 416 && start > 0) {
    res.resume();
    const all = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    if (all && Number(all[1]) === start) return { size: start, resumedFrom: start };
    fs.rmSync(part, { force: true });
    return fetchResumable(url, part, opts);
  } else {
    res.resume();
    throw new DataError('VNET_E_DOWNLOAD', `HTTP ${status} from ${url.href}`);
  }
  const max = opts.expectedSize ?? opts.maxBytes ?? LIMITS.download();
  if (total !== undefined && total > max) {
    res.resume();
    throw new DataError('VNET_E_SIZE', `the server announces ${total} bytes, over the ${max}-byte limit (expectedSize, maxBytes or VNET_MAX_DOWNLOAD_MB)`, url.href);
  }
  const resumedFrom = start;
  let done = start;
  opts.onProgress?.({ done, total });
  // O_NOFOLLOW: a link planted at the .part name is refused, never written through.
  const C = fs.constants;
  const fd = fs.openSync(part, C.O_WRONLY | C.O_CREAT | C.O_NOFOLLOW | (start > 0 ? C.O_APPEND : C.O_TRUNC), 0o644);
  const out = fs.createWriteStream('', { fd });
  // Wait for 'close' on every path: a write still in flight when the transfer dies would land
  // after a quick retry had measured the .part size, and corrupt the resumed file.
  const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
  try {
    await pipeline(res, async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        done += chunk.length;
        // No Content-Length (or a lying one): stop at the limit rather than fill the disk.
        if (done > max) throw new DataError('VNET_E_SIZE', `more than ${max} bytes received (the limit: expectedSize, maxBytes or VNET_MAX_DOWNLOAD_MB)`, url.href);
        opts.onProgress?.({ done, total });
        yield chunk;
      }
    }, out);
  } catch (e) {
    await closed;
    if (e instanceof DataError && e.code === 'VNET_E_SIZE') {
      fs.rmSync(part, { force: true }); // too big: resuming cannot fix it
      throw e;
    }
    throw new DataError('VNET_E_DOWNLOAD', `transfer interrupted after ${done} bytes (${(e as Error).message}); run again to resume`);
  }
  await closed;
  if (total !== undefined && done !== total) throw new DataError('VNET_E_DOWNLOAD', `transfer interrupted after ${done} of ${total} bytes; run again to resume`);
  return { size: done, resumedFrom };
}

/** Bytes already in the `.part` file; refuses a link or special file planted under its name. */
function partSize(part: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(part);
  } catch {
    return 0;
  }
  if (!st.isFile()) throw new DataError('VNET_E_UNSAFE_OUTPUT', 'the partial download is not a regular file (a link?); remove it and run again', part);
  return st.size;
}

async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), h);
  return h.digest('hex');
}

/** The folder holding dataset.json: the extraction root, or its single top-level folder. */
function datasetRoot(dir: string): string | undefined {
  if (fs.existsSync(path.join(dir, 'dataset.json'))) return dir;
  const subs = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
  if (subs.length === 1 && fs.existsSync(path.join(dir, subs[0].name, 'dataset.json'))) return path.join(dir, subs[0].name);
  return undefined;
}

/** Download, check, extract and validate a dataset into `opts.dataDir`. */
export async function downloadDataset(opts: DownloadOptions): Promise<DownloadResult> {
  const dataDir = path.resolve(opts.dataDir);
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
    throw new DataError('VNET_E_DATA_EXISTS', 'the dataset folder already exists and is not empty', dataDir);
  }
  checkOutputDir(dataDir, [], '--data_dir');
  makeDirs(path.dirname(dataDir));
  const part = `${dataDir}.tar.part`;
  const url = new URL(opts.url ?? DEFAULT_DATASET_URL);
  const { size, resumedFrom } = await fetchResumable(url, part, opts);
  const fail = (code: 'VNET_E_SIZE' | 'VNET_E_CHECKSUM', msg: string): never => {
    fs.rmSync(part, { force: true }); // a complete but wrong file cannot be fixed by resuming
    throw new DataError(code, msg, url.href);
  };
  if (opts.expectedSize !== undefined && size !== opts.expectedSize) fail('VNET_E_SIZE', `got ${size} bytes, expected ${opts.expectedSize}`);
  const digest = await sha256File(part);
  if (opts.sha256 && digest !== opts.sha256.toLowerCase()) fail('VNET_E_CHECKSUM', `sha256 ${digest}, expected ${opts.sha256}`);
  if (!opts.sha256) await checkKnownArchive(url, part).catch((e: DataError) => fail('VNET_E_CHECKSUM', e.detail));
  const tmp = `${dataDir}.extract-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    extractTar(part, tmp);
    const root = datasetRoot(tmp);
    if (!root) throw new DataError('VNET_E_INVALID_DATASET', 'the archive holds no dataset.json', url.href);
    const validation = validateDataset(root);
    if (validation.errors.length > 0) {
      throw new DataError('VNET_E_INVALID_DATASET', `the downloaded dataset has errors:\n${formatProblems(validation.errors, { relativeTo: root })}`, url.href);
    }
    if (fs.existsSync(dataDir)) fs.rmdirSync(dataDir); // empty (checked above)
    fs.renameSync(root, dataDir);
    if (opts.keepArchive) fs.renameSync(part, `${dataDir}.tar`);
    else fs.rmSync(part, { force: true });
    return { dataDir, bytes: size, sha256: digest, resumedFrom, validation: { ...validation, ...relocate(validation, root, dataDir) } };
  } catch (e) {
    // A complete archive that is corrupt or invalid cannot be fixed by resuming: drop it too.
    if (e instanceof DataError && (e.code === 'VNET_E_INVALID_DATASET' || e.code === 'VNET_E_CORRUPT_FILE')) fs.rmSync(part, { force: true });
    throw e;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Problems were found under the temporary folder: point their files at the final one. */
function relocate(v: ValidationResult, from: string, to: string): Pick<ValidationResult, 'errors' | 'warnings'> {
  const fix = (p: { file?: string }) => (p.file?.startsWith(from) ? to + p.file.slice(from.length) : p.file);
  return { errors: v.errors.map((p) => ({ ...p, file: fix(p) })), warnings: v.warnings.map((p) => ({ ...p, file: fix(p) })) };
}
