import { defineConfig } from 'vite';

// In development (`npm run dev`) and `vite preview`, the API lives on a Marauder server
// elsewhere; proxy it so that the app can keep using same-origin relative URLs.
const target = process.env.MARAUDER_URL || 'http://127.0.0.1:8080';
const proxy = {
  '/api': { target, ws: true },
  '/config.json': { target },
};

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets', // hashed names: the server caches assets/ for ever
    sourcemap: false,
  },
  server: { proxy },
  preview: { proxy },
});
