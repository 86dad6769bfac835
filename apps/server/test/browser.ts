/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Headless Chromium for the dashboard's tests, driven by playwright-core: Debian's `chromium`
 * (playwright cannot download its own browsers here), started with the flags that keep it
 * from calling hosts this network refuses. Tests skip, saying so, where it is missing.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export const chromiumMissing = existsSync(CHROMIUM_PATH)
  ? undefined
  : `no Chromium at ${CHROMIUM_PATH}: install it (apt-get install -y chromium, as scripts/setup.sh does as root) or set CHROMIUM_PATH`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // headless, and a fresh profile per launch: playwright's own defaults.
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Where the tests put their screenshots (apps/server/test-output/screenshots, not committed). */
export const SCREENSHOTS = new URL('../test-output/screenshots/', import.meta.url).pathname;

/** A full-page screenshot named after the page, width and color scheme. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const width = page.viewportSize()?.width ?? 0;
  const scheme = await page.evaluate(() =>
    matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
  );
  const path = join(SCREENSHOTS, `${name}-${width}-${scheme}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Form controls without a label a screen reader would read: none expected. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [
      ...document.querySelectorAll<HTMLElement>(
        'input, select, textarea, button, [contenteditable]',
      ),
    ]
      .filter(
        (el) => !(el as HTMLInputElement).hidden && (el as HTMLInputElement).type !== 'hidden',
      )
      .filter((el) => el.offsetParent !== null)
      .filter((el) => {
        const labels = (el as HTMLInputElement).labels;
        return !(
          (labels && labels.length > 0) ||
          el.getAttribute('aria-label') ||
          el.getAttribute('aria-labelledby') ||
          (el.tagName === 'BUTTON' && el.textContent?.trim())
        );
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}
