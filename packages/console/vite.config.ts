import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// Served by the API under /console/ (src/api/console.ts); every call goes to the same origin.
export default defineConfig({
  base: '/console/',
  plugins: [preact({ prerender: { enabled: false } })],
  // `npm run dev`: the page's origin is Vite's, so the API's paths are passed on to a local API.
  server: { proxy: { '/v1': process.env.RUNWAY_URL ?? 'http://127.0.0.1:8080' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No data: URLs or inline chunks: the console's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    target: 'es2022',
  },
});
