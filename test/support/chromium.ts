// Test support: Debian's headless Chromium (`.ci/run` installs it) driven by playwright-core, started as this
// machine allows (no sandbox as root, no background networking on a closed network), in a profile of its own.
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

/** chromium-headless-shell, or the full browser; CHROMIUM_PATH overrides. Undefined: none here. */
export const BROWSER = [process.env.CHROMIUM_PATH, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find(
  (path): path is string => path !== undefined && path !== '' && existsSync(path),
);

/** Said in a test's name when it is skipped for want of a browser. */
export const NO_BROWSER = ' (skipped: no /usr/bin/chromium-headless-shell or /usr/bin/chromium; .ci/run installs it)';

/** A headless browser with a new profile under `dir`; close() it when done. */
export async function launchChromium(
  dir: string,
  viewport?: { width: number; height: number },
): Promise<BrowserContext> {
  if (BROWSER === undefined) throw new Error(`no browser${NO_BROWSER}`);
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-')), {
    executablePath: BROWSER,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    ...(viewport ? { viewport } : {}),
  });
}
