// Serves the viewer page: GET / (and /index.html) and its assets, NiiVue's browser bundle among
// them, from the installed package, so the page works with no network. A request for anything
// else is left to the caller (the handler returns false), so the server wires it in one line.
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { repoRoot } from '../../data/paths.js';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

// Only this server: scripts, styles, fetches (blob: for the volumes handed to NiiVue). WebGL
// shaders need no script permission; NiiVue compiles its workers from blob: URLs.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' blob: data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** NiiVue's self-contained UMD bundle, found the way Node finds packages (node_modules upwards). */
function niivueBundle(root: string): string {
  for (let dir = root; ; dir = path.dirname(dir)) {
    const f = path.join(dir, 'node_modules', '@niivue', 'niivue', 'dist', 'niivue.umd.js');
    if (fs.existsSync(f)) return f;
    if (path.dirname(dir) === dir) throw new Error(`@niivue/niivue is not installed (looked in node_modules above ${root}); reinstall vnet-native`);
  }
}

/** URL path -> file, for the few files the page has. */
function routes(): Map<string, string> {
  const root = repoRoot();
  const assets = path.join(root, 'src', 'serve', 'page', 'assets');
  return new Map([
    ['/', path.join(assets, 'index.html')],
    ['/index.html', path.join(assets, 'index.html')],
    ['/assets/app.js', path.join(assets, 'app.js')],
    ['/assets/app.css', path.join(assets, 'app.css')],
    ['/assets/niivue.js', niivueBundle(root)],
  ]);
}

/**
 * A request handler for the page: answers GET / HEAD of its routes and returns true, returns
 * false for every other request (untouched). Files are read once, at the first request.
 */
export function pageHandler(): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  let files: Map<string, { body: Buffer; type: string }> | undefined;
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    files ??= new Map([...routes()].map(([url, file]) => [url, { body: fs.readFileSync(file), type: TYPES[path.extname(file)] }]));
    const f = files.get(pathname);
    if (!f) return false;
    res.writeHead(200, {
      'Content-Type': f.type, 'Content-Length': f.body.length, 'Cache-Control': 'no-cache',
      'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : f.body);
    return true;
  };
}
