// Hostile archives and downloads: tar members with negative or garbage sizes (octal, pax,
// base-256), generated headers, a planted `.tar.part` link, and servers that send more than
// allowed (with or without a Content-Length).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { downloadDataset, extractTar, isDataError } from '../../src/data/index.js';
import { CASE_LIMIT_MS, expectIntact, expectRefused, fingerprint, lib, requireBuilt, tmp } from './helpers.js';

requireBuilt();

/** A 512-byte ustar header whose size field holds `size` verbatim (12 bytes). */
function header(name: string, size: string | Buffer, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  if (typeof size === 'string') h.write(size.padEnd(11, ' ').slice(0, 11) + '\0', 124, 'latin1');
  else size.copy(h, 124, 0, 12);
  h.write('14000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}
const pax = (k: string, v: string) => {
  const body = ` ${k}=${v}\n`;
  let n = body.length + 1;
  while (String(n).length + body.length !== n) n++;
  return Buffer.from(`${n}${body}`);
};
const block = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

function tarOf(parts: Buffer[]): string {
  const f = path.join(tmp('tar'), 'a.tar');
  fs.writeFileSync(f, Buffer.concat([...parts, Buffer.alloc(1024)]));
  return f;
}

const extract = (tar: string, dest: string) =>
  lib(`const { extractTar } = await import(D + '/data/index.js'); return extractTar(${JSON.stringify(tar)}, ${JSON.stringify(dest)});`, { timeoutMs: 15_000 });

test('a member size of octal -1000 is refused, not looped over', () => {
  const tar = tarOf([header('a.txt', '-1000'), block(Buffer.from('x'.repeat(600)))]);
  expectRefused(extract(tar, path.join(tmp('out'), 'x')), { exit: 0, code: 'VNET_E_CORRUPT_FILE', names: [tar, 'bad member size'], maxMs: 5000, maxRssMb: 150 });
}, CASE_LIMIT_MS);

test('a pax size of -1536 is refused, not looped over', () => {
  const tar = tarOf([header('PaxHeader/a', String(pax('size', '-1536').length.toString(8)), 'x'), block(pax('size', '-1536')), header('a.txt', '1'), block(Buffer.from('x'))]);
  expectRefused(extract(tar, path.join(tmp('out'), 'x')), { exit: 0, code: 'VNET_E_CORRUPT_FILE', names: [tar, 'bad member size'], maxMs: 5000, maxRssMb: 150 });
}, CASE_LIMIT_MS);

test('a negative GNU base-256 size is refused', () => {
  const size = Buffer.alloc(12, 0xff);
  const tar = tarOf([header('a.txt', size), block(Buffer.from('x'))]);
  expectRefused(extract(tar, path.join(tmp('out'), 'x')), { exit: 0, code: 'VNET_E_CORRUPT_FILE', names: [tar, 'bad member size'], maxMs: 5000 });
}, CASE_LIMIT_MS);

test('generated tar headers: extraction ends, inside the destination, or fails with a DataError', () => {
  const root = tmp('fuzz');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'keep.txt'), 'keep\n');
  const before = fingerprint(outside);
  const sizeField = fc.array(fc.constantFrom('0', '1', '7', '8', '9', '-', ' ', '+', 'x', '\0'), { maxLength: 11 }).map((c) => c.join(''));
  const name = fc.constantFrom('a.txt', '../outside/keep.txt', '/etc/vnet-x', 'd/../../outside/keep.txt', 'ok/b.txt', '._mac');
  const type = fc.constantFrom('0', '5', 'x', 'L', '2', 'g', '7');
  let n = 0;
  fc.assert(fc.property(fc.array(fc.record({ name, size: sizeField, type, body: fc.nat(1200) }), { minLength: 1, maxLength: 4 }), (members) => {
    const parts = members.flatMap((m) => [header(m.name, m.size, m.type), block(Buffer.alloc(m.body, 0x41))]);
    const tar = path.join(root, `g${n}.tar`);
    const dest = path.join(root, `d${n++}`);
    fs.writeFileSync(tar, Buffer.concat(parts));
    try {
      extractTar(tar, dest);
    } catch (e) {
      if (!isDataError(e)) throw e;
    }
  }), { numRuns: 250, seed: 13 });
  expectIntact(before);
}, CASE_LIMIT_MS);

/** A local server: `handler` answers every request. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/Task04_Hippocampus.tar`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

test('download refuses to write through a planted .tar.part link; its target is untouched', async () => {
  const root = tmp('dl');
  const victim = path.join(tmp('victim'), 'important.bin');
  fs.writeFileSync(victim, 'do not overwrite\n');
  const dataDir = path.join(root, 'Task04');
  fs.symlinkSync(victim, `${dataDir}.tar.part`);
  const before = fingerprint(root, victim);
  const s = await serve((_req, res) => res.end(Buffer.alloc(4096, 1)));
  const t0 = Date.now();
  try {
    await expect(downloadDataset({ dataDir, url: s.url })).rejects.toMatchObject({ code: 'VNET_E_UNSAFE_OUTPUT', message: expect.stringContaining(`${dataDir}.tar.part`) });
  } finally {
    await s.close();
  }
  expect(Date.now() - t0).toBeLessThan(5000);
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a download without Content-Length stops at the size limit and leaves nothing behind', async () => {
  const root = tmp('dl');
  const dataDir = path.join(root, 'Task04');
  const chunk = Buffer.alloc(64 << 10, 2);
  const s = await serve((_req, res) => {
    let sent = 0;
    const more = () => { while (sent < (8 << 20) && res.write(chunk)) sent += chunk.length; if (sent < (8 << 20)) res.once('drain', () => { sent += chunk.length; more(); }); else res.end(); };
    more();
  });
  try {
    await expect(downloadDataset({ dataDir, url: s.url, maxBytes: 1 << 20 })).rejects.toMatchObject({ code: 'VNET_E_SIZE', message: expect.stringContaining('limit') });
  } finally {
    await s.close();
  }
  expect(fs.readdirSync(root)).toEqual([]);
}, CASE_LIMIT_MS);

test('a Content-Length over the limit is refused before any byte is stored', async () => {
  const root = tmp('dl');
  const dataDir = path.join(root, 'Task04');
  const s = await serve((_req, res) => { res.setHeader('Content-Length', String(10 * 2 ** 30)); res.write(Buffer.alloc(1024)); });
  try {
    await expect(downloadDataset({ dataDir, url: s.url })).rejects.toMatchObject({ code: 'VNET_E_SIZE', message: expect.stringContaining('VNET_MAX_DOWNLOAD_MB') });
  } finally {
    await s.close();
  }
  expect(fs.existsSync(`${dataDir}.tar.part`)).toBe(false);
}, CASE_LIMIT_MS);
