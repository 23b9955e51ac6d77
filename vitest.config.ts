import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/env/global-setup.ts'],
    // Test files spawn real services and guests: separate processes, two at a time on two cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 900_000,
    reporters: ['default'],
    coverage: {
      provider: 'v8',
      include: ['cli/**', 'db/**', 'domain/**', 'operator/**', 'webui/**', 'worker-image/**'],
      reporter: ['text-summary', 'html'],
    },
  },
});
