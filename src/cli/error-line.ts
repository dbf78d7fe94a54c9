// The one line a failed command prints: "vnet-native: error [CODE]: message", the code once
// (data errors carry it at the start of their message too).
export function errorLine(e: unknown): string {
  const err = e as Error & { code?: string };
  const msg = String(err?.message ?? e);
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const text = code && msg.startsWith(code) ? msg.slice(code.length).replace(/^:?\s*/, '') : msg;
  return `vnet-native: error${code ? ` [${code}]` : ''}: ${text}\n`;
}
