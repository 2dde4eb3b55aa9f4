// Debian's chromium driven by playwright-core, for the browser tests
// (browser, video, cluster): importing this module fails, as those tests
// must, when either is missing (make test installs both).
import { existsSync } from 'node:fs';

import { ms } from './helpers.mjs';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  throw new Error("the npm package 'playwright-core' is missing: run `npm ci` (make test does)");
}
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install chromium (make test does)`);

/** A headless chromium, on loopback only, without background traffic. */
export const launchChromium = () => chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  timeout: ms(30000),
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});

/** The demo page's video state, and a checksum of the shown picture. */
export const sampleVideo = (page) => page.evaluate(() => {
  const v = window.ringcastDemo.video;
  const el = v.player?.element;
  let lit = 0;
  let sum = 0;
  if (el && (el.tagName !== 'VIDEO' || el.videoWidth)) {
    // Read the picture back: the video element through a canvas, or
    // JSMpeg's canvas itself.
    const c = document.createElement('canvas');
    c.width = 320;
    c.height = 180;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(el, 0, 0, c.width, c.height);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 16) {
      if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
      sum = (sum * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) % 1000000007;
    }
  }
  return {
    kind: v.player?.kind ?? null,
    codec: v.program?.codec ?? null,
    frames: v.player?.frames ?? 0,
    time: el?.tagName === 'VIDEO' ? el.currentTime : null,
    errors: v.errors.slice(),
    message: v.message,
    ttff: v.firstFrameAt && v.connectAt ? v.firstFrameAt - v.connectAt : null,
    lit,
    sum,
  };
});
