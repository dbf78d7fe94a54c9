// Which machines the prebuilt addon's manifest accepts, and what the loader is told when it does not fit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkPrebuilt, compareVersions, mismatch, type Host, type PrebuiltManifest } from '../../bindings/prebuilt.js';

const manifest: PrebuiltManifest = {
  platform: 'linux', arch: 'x64', libc: 'glibc', glibcMin: '2.34', glibcxxMin: '3.4.30', napi: 8,
  isaBaseline: 'x86-64', isaPaths: ['portable', 'avx2', 'avx512'], cudaCompiled: true, cudaArchs: ['80-real', '90-real', '90-virtual'],
  builtWith: { node: 'v20.20.2' },
};
const host: Host = { platform: 'linux', arch: 'x64', libc: 'glibc', libcVersion: '2.36', napi: 9 };

test('dotted versions compare numerically', () => {
  expect(compareVersions('2.34', '2.36')).toBe(-1);
  expect(compareVersions('2.36', '2.36.0')).toBe(0);
  expect(compareVersions('2.100', '2.36')).toBe(1);
});

test('a fitting host is accepted; each mismatch is named', () => {
  expect(mismatch(manifest, host)).toBeUndefined();
  expect(mismatch(manifest, { ...host, libcVersion: '2.34' })).toBeUndefined();
  expect(mismatch(manifest, { ...host, arch: 'arm64' })).toBe('it is for linux-x64, this machine is linux-arm64');
  expect(mismatch(manifest, { ...host, platform: 'darwin', libc: 'none' })).toBe('it is for linux-x64, this machine is darwin-x64');
  expect(mismatch(manifest, { ...host, libc: 'musl', libcVersion: undefined })).toBe("it is for glibc, this system's C library is musl");
  expect(mismatch(manifest, { ...host, libcVersion: '2.31' })).toBe('it needs glibc >= 2.34, this system has 2.31');
  expect(mismatch(manifest, { ...host, napi: 7 })).toMatch(/^it needs N-API 8, this Node \(v[\d.]+\) has N-API 7$/);
});

test('checkPrebuilt reads prebuilds/<platform>-<arch>/manifest.json and reports a missing or unreadable one', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-prebuilt-'));
  try {
    expect(checkPrebuilt(root, host)).toEqual({ ok: false, path: path.join(root, 'prebuilds', 'linux-x64', 'vnet_native.node'), reason: 'no prebuilt addon for linux-x64 in this package' });
    const dir = path.join(root, 'prebuilds', 'linux-x64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'vnet_native.node'), '');
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{ not json');
    const bad = checkPrebuilt(root, host);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toMatch(/^unreadable .*manifest\.json/);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    expect(checkPrebuilt(root, host)).toEqual({ ok: true, path: path.join(dir, 'vnet_native.node'), manifest });
    const old = checkPrebuilt(root, { ...host, libcVersion: '2.28' });
    expect(!old.ok && old.reason).toBe('the prebuilt addon does not fit: it needs glibc >= 2.34, this system has 2.28');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
