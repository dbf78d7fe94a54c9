// downloadDataset against a local HTTP server on 127.0.0.1 serving a tar built here from a
// few real cases: redirects, progress, resume after an interrupted transfer, and failures
// (checksum, bad archive, HTTP error) that leave nothing behind. Also the tar reader itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { downloadDataset, type DownloadProgress } from '../../src/data/download.js';
import { extractTar } from '../../src/data/tar.js';
import { DataError } from '../../src/data/errors.js';
import { HAVE_DATA, cleanupTmp, itData, real, tmpDir } from './helpers.js';

/** One 512-byte ustar header (written independently of src/data/tar.ts). */
function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257); h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const entry = (name: string, data: Buffer, type = '0') => [header(name, data.length, type), pad(data)];
const longEntry = (name: string, data: Buffer) => [...entry('././@LongLink', Buffer.from(name + '\0'), 'L'), ...entry(name.slice(0, 99), data)];
function paxEntry(name: string, data: Buffer) {
  const rec = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    const len = Buffer.byteLength(body);
    let n = len + 1;
    while (String(n).length + len !== n) n++; // the length counts itself, in bytes
    return `${n}${body}`;
  };
  return [...entry('PaxHeader/x', Buffer.from(rec('path', name) + rec('mtime', '1.5')), 'x'), ...entry('short-name-overridden', data)];
}

const LONG = 'hippocampus_' + 'x'.repeat(120);
let tar: Buffer = Buffer.alloc(0);
let sha = '';
const originals: Record<string, Buffer> = {};

function buildTar(broken = false): Buffer {
  const top = 'Task04_Hippocampus';
  const json = {
    name: 'Hippocampus', labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' }, modality: { 0: 'MRI' }, numTraining: 3,
    training: ['001', '017', '044'].map((n) => ({ image: `./imagesTr/hippocampus_${n}.nii.gz`, label: `./labelsTr/hippocampus_${n}.nii.gz` })),
    test: [`./imagesTs/${LONG}.nii.gz`],
  };
  const parts: Buffer[] = [...entry('pax_global_header', Buffer.from('52 comment=global header, to be skipped entirely\n'), 'g'), header(`${top}/`, 0, '5')];
  parts.push(...entry(`${top}/dataset.json`, Buffer.from(JSON.stringify(json))));
  for (const n of ['001', '017', '044']) {
    const img = fs.readFileSync(real(n));
    const lab = broken && n === '044' ? fs.readFileSync(real(n, 'label')).subarray(0, 500) : fs.readFileSync(real(n, 'label'));
    if (!broken) {
      originals[`imagesTr/hippocampus_${n}.nii.gz`] = img;
      originals[`labelsTr/hippocampus_${n}.nii.gz`] = lab;
    }
    parts.push(...entry(`${top}/imagesTr/hippocampus_${n}.nii.gz`, img));
    parts.push(...(n === '017' ? paxEntry(`${top}/labelsTr/hippocampus_${n}.nii.gz`, lab) : entry(`${top}/labelsTr/hippocampus_${n}.nii.gz`, lab)));
  }
  parts.push(...entry(`${top}/imagesTr/._hippocampus_001.nii.gz`, Buffer.from('AppleDouble junk')));
  originals[`imagesTs/${LONG}.nii.gz`] = fs.readFileSync(real('101'));
  parts.push(...longEntry(`${top}/imagesTs/${LONG}.nii.gz`, originals[`imagesTs/${LONG}.nii.gz`]));
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const requests: { url: string; range?: string }[] = [];
let server: http.Server;
let base = '';
let cutOnce = true;

beforeAll(async () => {
  if (!HAVE_DATA) return;
  tar = buildTar();
  sha = crypto.createHash('sha256').update(tar).digest('hex');
  const broken = buildTar(true);
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', range: req.headers.range });
    const body = req.url === '/broken.tar' ? broken : tar;
    if (req.url === '/redirect') { res.writeHead(302, { Location: '/data/Task04_Hippocampus.tar' }); return res.end(); }
    if (req.url === '/missing.tar') { res.writeHead(404); return res.end('no'); }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      res.writeHead(206, { 'Content-Length': body.length - start, 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` });
      return res.end(body.subarray(start));
    }
    res.writeHead(200, { 'Content-Length': body.length });
    if (req.url === '/cut.tar' && cutOnce) {
      cutOnce = false;
      return res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
  cleanupTmp();
});

function sameFiles(dir: string): void {
  for (const [rel, buf] of Object.entries(originals)) expect(fs.readFileSync(path.join(dir, rel)).equals(buf)).toBe(true);
}

describe('downloadDataset', () => {
  itData('downloads through a redirect, checks size and sha256, extracts and validates', async () => {
    const parent = tmpDir('dl');
    const dataDir = path.join(parent, 'Task04_Hippocampus');
    const progress: DownloadProgress[] = [];
    const r = await downloadDataset({ dataDir, url: `${base}/redirect`, expectedSize: tar.length, sha256: sha, onProgress: (p) => progress.push(p) });
    expect(r.sha256).toBe(sha);
    expect(r.bytes).toBe(tar.length);
    expect(r.validation.errors).toEqual([]);
    expect(r.validation.cases).toBe(3);
    expect(progress[progress.length - 1]).toEqual({ done: tar.length, total: tar.length });
    expect(fs.readdirSync(parent)).toEqual(['Task04_Hippocampus']);
    expect(fs.readdirSync(path.join(dataDir, 'imagesTr')).sort()).toEqual(['hippocampus_001.nii.gz', 'hippocampus_017.nii.gz', 'hippocampus_044.nii.gz']);
    sameFiles(dataDir);
  });

  itData('resumes an interrupted transfer with a Range request', async () => {
    const parent = tmpDir('dl');
    const dataDir = path.join(parent, 'Task04_Hippocampus');
    const err = await downloadDataset({ dataDir, url: `${base}/cut.tar`, sha256: sha }).catch((e: DataError) => e);
    expect((err as DataError).code).toBe('VNET_E_DOWNLOAD');
    expect(fs.readdirSync(parent)).toEqual(['Task04_Hippocampus.tar.part']);
    const have = fs.statSync(path.join(parent, 'Task04_Hippocampus.tar.part')).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(tar.length);
    const r = await downloadDataset({ dataDir, url: `${base}/cut.tar`, sha256: sha });
    expect(r.resumedFrom).toBe(have);
    expect(requests.filter((q) => q.url === '/cut.tar').map((q) => q.range)).toEqual([undefined, `bytes=${have}-`]);
    expect(fs.readdirSync(parent)).toEqual(['Task04_Hippocampus']);
    sameFiles(dataDir);
  });

  itData('a checksum mismatch leaves nothing behind', async () => {
    const parent = tmpDir('dl');
    const dataDir = path.join(parent, 'Task04_Hippocampus');
    await expect(downloadDataset({ dataDir, url: `${base}/data/Task04_Hippocampus.tar`, sha256: '0'.repeat(64) })).rejects.toMatchObject({ code: 'VNET_E_CHECKSUM' });
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  itData('an archive whose dataset fails validation leaves nothing behind', async () => {
    const parent = tmpDir('dl');
    const err = await downloadDataset({ dataDir: path.join(parent, 'T4'), url: `${base}/broken.tar` }).catch((e: DataError) => e);
    expect((err as DataError).code).toBe('VNET_E_INVALID_DATASET');
    expect((err as DataError).message).toMatch(/VNET_E_CORRUPT_FILE labelsTr\/hippocampus_044\.nii\.gz/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  itData('HTTP errors and an existing dataset folder are refused', async () => {
    const parent = tmpDir('dl');
    await expect(downloadDataset({ dataDir: path.join(parent, 'x'), url: `${base}/missing.tar` })).rejects.toMatchObject({ code: 'VNET_E_DOWNLOAD' });
    fs.mkdirSync(path.join(parent, 'y'));
    fs.writeFileSync(path.join(parent, 'y', 'keep'), 'mine');
    await expect(downloadDataset({ dataDir: path.join(parent, 'y'), url: `${base}/redirect` })).rejects.toMatchObject({ code: 'VNET_E_DATA_EXISTS' });
    expect(fs.readFileSync(path.join(parent, 'y', 'keep'), 'utf8')).toBe('mine');
  });
});

describe('extractTar', () => {
  it('refuses paths that escape the destination, and damaged headers', () => {
    const d = tmpDir('tar');
    const evil = path.join(d, 'evil.tar');
    fs.writeFileSync(evil, Buffer.concat([...entry('../escape.txt', Buffer.from('x')), Buffer.alloc(1024)]));
    expect(() => extractTar(evil, path.join(d, 'out'))).toThrow(/VNET_E_CORRUPT_FILE.*unsafe/);
    expect(fs.existsSync(path.join(d, 'escape.txt'))).toBe(false);
    const bad = Buffer.concat([...entry('a.txt', Buffer.from('hello')), Buffer.alloc(1024)]);
    bad[10] ^= 0xff;
    fs.writeFileSync(path.join(d, 'bad.tar'), bad);
    expect(() => extractTar(path.join(d, 'bad.tar'), path.join(d, 'out2'))).toThrow(/checksum/);
  });

  it('reads GNU long names and pax paths, skips pax globals and ._ files', () => {
    const d = tmpDir('tar');
    const long = 'dir/' + 'n'.repeat(150) + '.txt';
    const t = Buffer.concat([
      ...entry('pax_global_header', Buffer.from('20 comment=ignored\n'), 'g'),
      ...longEntry(long, Buffer.from('long')),
      ...paxEntry('dir/ünïcode-pax.txt', Buffer.from('pax')),
      ...entry('dir/._junk', Buffer.from('junk')),
      ...entry('plain.txt', Buffer.from('plain')),
      Buffer.alloc(1024),
    ]);
    fs.writeFileSync(path.join(d, 't.tar'), t);
    const s = extractTar(path.join(d, 't.tar'), path.join(d, 'out'));
    expect(s.files).toBe(3);
    expect(fs.readFileSync(path.join(d, 'out', long), 'utf8')).toBe('long');
    expect(fs.readFileSync(path.join(d, 'out', 'dir', 'ünïcode-pax.txt'), 'utf8')).toBe('pax');
    expect(fs.readFileSync(path.join(d, 'out', 'plain.txt'), 'utf8')).toBe('plain');
    expect(fs.readdirSync(path.join(d, 'out', 'dir')).sort()).toEqual([path.basename(long), 'ünïcode-pax.txt'].sort());
  });
});
