// Helpers for the serve tests: a tiny model trained on a few real cases with predict's masks
// beside it (the reference the service must match), and an HTTP client for 127.0.0.1.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { SMALL_NET, realSubset, requireBuilt, runCli, tmpDir } from '../cli/helpers.js';

export interface TinyModel {
  data: string;
  model: string;
  /** Test image paths and predict's mask (bytes) for each. */
  cases: { image: string; mask: Buffer }[];
}

/** Train one epoch of the 16³ net on 4 real cases and run predict (batch 1) on `nTest` test images. */
export function tinyModel(nTest = 4): TinyModel {
  requireBuilt();
  const data = realSubset(4, nTest);
  const model = path.join(tmpDir('serve'), 'm');
  const t = runCli(['train', '--data_dir', data, '--model_dir', model, '--batch_size', '2', ...SMALL_NET, '--train_epochs', '1']);
  if (t.code !== 0) throw new Error(`training the test model failed:\n${t.stderr}`);
  const out = path.join(path.dirname(model), 'pred');
  const p = runCli(['predict', '--data_dir', data, '--model_dir', model, '--batch_size', '1', '--output_dir', out]);
  if (p.code !== 0) throw new Error(`predict failed:\n${p.stderr}`);
  const images = (JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8')) as { test: string[] }).test;
  return { data, model, cases: images.map((image) => ({ image, mask: fs.readFileSync(path.join(out, path.basename(image))) })) };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => { error?: string; code?: string; [k: string]: unknown };
}

/** One request; `body` is sent whole with its length (or chunked when `chunked`). */
export function request(url: string, o: { method?: string; body?: Uint8Array; headers?: Record<string, string>; chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(o.body && !o.chunked ? { 'Content-Length': o.body.byteLength } : {}), ...o.headers };
    const req = http.request(url, { method: o.method ?? (o.body ? 'POST' : 'GET'), headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body && o.chunked) {
      // Several writes, so the server sees a streamed body without a length.
      const step = 64 * 1024;
      for (let i = 0; i < o.body.byteLength; i += step) req.write(o.body.subarray(i, i + step));
      req.end();
    } else req.end(o.body);
  });
}

export const NIFTI = { 'Content-Type': 'application/octet-stream' };

/** POST an image to /predict. */
export const predict = (base: string, body: Uint8Array, query = '') => request(`${base}/predict${query}`, { body, headers: NIFTI });

/**
 * A /predict upload held half-way: the server has the request (and counts it in flight) but not
 * its whole body until `finish()` sends the rest and resolves with the reply.
 */
export function heldUpload(base: string, body: Uint8Array): { sent: Promise<void>; finish: () => Promise<Reply> } {
  let reply!: Promise<Reply>;
  let req!: http.ClientRequest;
  const sent = new Promise<void>((resolveSent, rejectSent) => {
    reply = new Promise((resolve, reject) => {
      req = http.request(`${base}/predict`, { method: 'POST', headers: { ...NIFTI, 'Content-Length': body.byteLength }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString('utf8')) });
        });
      });
      req.on('error', (e) => { reject(e); rejectSent(e); });
    });
    req.write(body.subarray(0, body.byteLength >> 1), () => setTimeout(resolveSent, 50));
  });
  return { sent, finish: () => { req.end(body.subarray(body.byteLength >> 1)); return reply; } };
}
