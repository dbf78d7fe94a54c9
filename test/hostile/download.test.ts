// Downloads behind a proxy and of a known archive: HTTPS_PROXY / HTTP_PROXY are used (a CONNECT
// tunnel for https, an absolute-form GET for http), NO_PROXY hosts are reached directly, and the
// known Task04 archive is checked against its published MD5 when no --sha256 is given.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DEFAULT_DATASET_URL, checkKnownArchive, downloadDataset } from '../../src/data/download.js';
import { proxyFor } from '../../src/data/proxy.js';
import { CASE_LIMIT_MS, tmp } from './helpers.js';

/** A server on 127.0.0.1 that records each request line and answers `status`. */
async function recorder(status: number): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(status).end('no'); });
  srv.on('connect', (req, socket) => { seen.push(`CONNECT ${req.url}`); socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen, close: () => srv.close() };
}

function withEnv<T>(env: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  return f().finally(() => { for (const [k, v] of Object.entries(old)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; } });
}

const CLEAR = { HTTPS_PROXY: undefined, https_proxy: undefined, HTTP_PROXY: undefined, http_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined };

test('HTTPS_PROXY and HTTP_PROXY carry the download; NO_PROXY hosts are reached directly', async () => {
  const proxy = await recorder(404);
  const direct = await recorder(404);
  try {
    await withEnv({ ...CLEAR, HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' }, async () => {
      const https = downloadDataset({ dataDir: path.join(tmp('dl'), 'a'), url: 'https://vnet-hostile.invalid/Task04.tar', timeoutMs: 5000 });
      await expect(https).rejects.toThrow(/VNET_E_DOWNLOAD.*refused CONNECT vnet-hostile\.invalid:443: HTTP 403/);
      const plain = downloadDataset({ dataDir: path.join(tmp('dl'), 'b'), url: 'http://vnet-hostile.invalid/Task04.tar', timeoutMs: 5000 });
      await expect(plain).rejects.toThrow(/HTTP 404/);
      const near = downloadDataset({ dataDir: path.join(tmp('dl'), 'c'), url: `${direct.url}/Task04.tar`, timeoutMs: 5000 });
      await expect(near).rejects.toThrow(/HTTP 404/);
    });
    expect(proxy.seen).toEqual(['CONNECT vnet-hostile.invalid:443', 'GET http://vnet-hostile.invalid/Task04.tar']);
    expect(direct.seen).toEqual(['GET /Task04.tar']);
  } finally {
    proxy.close();
    direct.close();
  }
  const u = new URL('https://data.example.org/x.tar');
  expect(proxyFor(u, { https_proxy: 'proxy:3128' })?.href).toBe('http://proxy:3128/');
  expect(proxyFor(u, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.example.org' })).toBeUndefined();
  expect(proxyFor(u, { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'example.org:8443' })?.host).toBe('p:1');
  expect(proxyFor(u, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' })).toBeUndefined();
}, CASE_LIMIT_MS);

test('the known Task04 archive is checked against its published MD5; other URLs are not', async () => {
  const f = path.join(tmp('dl'), 'x.tar');
  fs.writeFileSync(f, 'not the archive');
  await expect(checkKnownArchive(new URL(DEFAULT_DATASET_URL), f)).rejects.toThrow(/VNET_E_CHECKSUM.*9d24dba78a72977dbd1d2e110310f31b/);
  await expect(checkKnownArchive(new URL('https://mirror.example.org/Task04_Hippocampus.tar'), f)).resolves.toBeUndefined();
}, CASE_LIMIT_MS);
