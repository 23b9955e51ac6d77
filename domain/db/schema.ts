// The database schema (drizzle-orm). Migrations in ./migrations are generated from this file
// with `npm run db:generate` and applied identically to PostgreSQL and the embedded PGlite.
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Facts about this installation (schema generation, instance id), one row per key. */
export const kubeqaMeta = pgTable('kubeqa_meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
