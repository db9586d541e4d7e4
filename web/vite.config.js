// Builds the dashboard into dist/, which `sweepwatch serve` serves at /
// ([web] dir). `npm run dev` serves it with hot reload and forwards the API
// to a running service (SWEEPWATCH_URL, default http://127.0.0.1:8080).
import { defineConfig } from 'vite';

const target = process.env.SWEEPWATCH_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': { target, changeOrigin: false },
      '/config.json': { target },
    },
  },
});
