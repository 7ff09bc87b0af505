// Debian's Chromium, headless, driven by puppeteer-core (no browser download): on this host, or
// inside a test's network namespace through a wrapper that enters it first. Chromium refuses to
// run as root with its sandbox, and tests run as root: --no-sandbox.

import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { bin, type Need } from './require.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const chromium = (): Need => bin(CHROMIUM, 'chromium');

export async function launchChromium(o: { ns?: string; tmpDir: string }): Promise<Browser> {
  let executablePath = CHROMIUM;
  if (o.ns !== undefined) {
    // `ip netns exec` keeps the pipe descriptors puppeteer talks over (fds 3 and 4).
    executablePath = join(o.tmpDir, 'chromium-in-netns');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${o.ns} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  return puppeteer.launch({
    executablePath,
    headless: true,
    pipe: true,
    userDataDir: join(o.tmpDir, `chromium-profile-${process.pid}-${Date.now()}`),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--metrics-recording-only', '--mute-audio'],
    timeout: 30_000,
    protocolTimeout: 30_000,
  });
}
