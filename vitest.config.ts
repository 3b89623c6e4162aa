import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The newcomer test installs and builds a clean clone: `npm run test:newcomer` runs it alone.
    exclude: [...configDefaults.exclude, ...(process.env.NEWCOMER_TEST ? [] : ['test/newcomer/**'])],
  },
});
