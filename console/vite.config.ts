import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The admin console: built into console/dist, which Roster serves at /console (src/console/routes.ts).
 * `npm run dev:console` serves it with hot reload and proxies /api to a Roster on 127.0.0.1:8080.
 */
export default defineConfig({
  root: here,
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Everything as files: the console's Content-Security-Policy allows no inline script or style.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': { target: process.env.ROSTER_URL ?? 'http://127.0.0.1:8080', changeOrigin: false },
      '/metrics': { target: process.env.ROSTER_URL ?? 'http://127.0.0.1:8080', changeOrigin: false },
    },
  },
});
