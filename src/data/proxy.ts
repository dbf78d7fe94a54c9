// Downloads through the proxy the environment names, as curl and pip do: HTTPS_PROXY for https
// URLs (a CONNECT tunnel), HTTP_PROXY for http ones (absolute-form requests), either spelling in
// upper or lower case; NO_PROXY lists hosts (a suffix match, '*' for all) reached directly.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { DataError } from './errors.js';

/** The proxy for `url`, or undefined to connect directly. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const raw = url.protocol === 'https:' ? pick('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy') : pick('HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy');
  if (!raw) return undefined;
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const entry of (pick('NO_PROXY', 'no_proxy') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (entry === '*') return undefined;
    const [h, p] = entry.startsWith('[') ? [entry.slice(0, entry.indexOf(']') + 1), entry.split(']:')[1]] : entry.split(':');
    const name = h.replace(/^\*?\./, '');
    if ((host === name || host.endsWith(`.${name}`)) && (!p || p === port)) return undefined;
  }
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new DataError('VNET_E_DOWNLOAD', `the proxy ${raw} (from HTTPS_PROXY / HTTP_PROXY) is not a valid URL`);
  }
}

const auth = (p: URL): Record<string, string> =>
  p.username ? { 'Proxy-Authorization': `Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64')}` } : {};

/** GET `url` through `proxy`; `timeoutMs` bounds every silence, the tunnel's included. */
export function proxiedGet(url: URL, proxy: URL, headers: Record<string, string>, timeoutMs: number): Promise<http.IncomingMessage> {
  const where = `through the proxy ${proxy.host}`;
  const fail = (e: Error) => (e instanceof DataError ? e : new DataError('VNET_E_DOWNLOAD', `${e.message} (${where})`));
  return new Promise((resolve, reject) => {
    const port = Number(proxy.port || 80);
    if (url.protocol === 'http:') {
      const req = http.get({ host: proxy.hostname, port, path: url.href, headers: { ...headers, Host: url.host, ...auth(proxy) } }, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(new DataError('VNET_E_DOWNLOAD', `no data for ${timeoutMs} ms (${where})`)));
      req.on('error', (e) => reject(fail(e)));
      return;
    }
    const target = `${url.hostname}:${url.port || 443}`;
    const connect = http.request({ host: proxy.hostname, port, method: 'CONNECT', path: target, headers: { Host: target, ...auth(proxy) } });
    connect.setTimeout(timeoutMs, () => connect.destroy(new DataError('VNET_E_DOWNLOAD', `no answer to CONNECT ${target} for ${timeoutMs} ms (${where})`)));
    connect.on('error', (e) => reject(fail(e)));
    connect.on('connect', (res, socket) => {
      connect.setTimeout(0);
      if (res.statusCode !== 200) {
        socket.destroy();
        return reject(new DataError('VNET_E_DOWNLOAD', `the proxy ${proxy.host} refused CONNECT ${target}: HTTP ${res.statusCode}`));
      }
      const req = https.get(url, { headers, agent: false, createConnection: () => tls.connect({ socket, servername: url.hostname }) }, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(new DataError('VNET_E_DOWNLOAD', `no data for ${timeoutMs} ms (${where})`)));
      req.on('error', (e) => reject(fail(e)));
    });
    connect.end();
  });
}
