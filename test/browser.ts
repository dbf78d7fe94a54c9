// Headless Chromium for the page and report tests: Debian's chromium driven by puppeteer-core,
// WebGL2 on SwiftShader (software), so it runs on machines without a GPU.
import fs from 'node:fs';
import type { Browser } from 'puppeteer-core';

/** The Chromium binary, when one is installed (apt-get install chromium). */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((f) => fs.existsSync(f));
export const NO_CHROMIUM = 'no chromium (apt-get install chromium)';

export async function launchChromium(): Promise<Browser> {
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--window-size=1280,900'],
  });
}
