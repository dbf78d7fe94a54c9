#!/usr/bin/env node
// Makes a shipped model: `node scripts/pack-model.js <trained model folder> <name> [--f32]`
// writes models/<name>/ (config.json, final.safetensors with F16 weights and no optimizer state)
// and its SHA256SUMS, which also covers MODEL_CARD.md when one is there. Run after `npm run build`.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [src, name, ...rest] = process.argv.slice(2);
if (!src || !name || !/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
  console.error('usage: node scripts/pack-model.js <trained model folder> <name: a-z 0-9 _ -> [--f32]');
  process.exit(2);
}
const { packModel } = await import(path.join(root, 'dist', 'src', 'infer', 'shipped.js'));
const out = path.join(root, 'models', name);
const extra = fs.existsSync(path.join(out, 'MODEL_CARD.md')) ? ['MODEL_CARD.md'] : [];
const { bytes } = await packModel(src, out, { half: !rest.includes('--f32'), extra });
console.log(`${out}: ${(bytes / 2 ** 20).toFixed(2)} MiB (${['config.json', 'final.safetensors', ...extra].join(', ')}, SHA256SUMS)`);
