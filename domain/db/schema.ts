// The database schema (drizzle-orm). Migrations in ./migrations are generated from this file
// with `npm run db:generate` and applied identically to PostgreSQL and the embedded PGlite.
//
// Names follow openQA's where a client can see them (jobs, job_groups, …).
// Settings of products, machines, test suites and templates are JSON objects (key → value).
// A job's settings are a JSON object on the job row (key → value, or key → [values] for
// multi-value settings such as WORKER_CLASS and KEY[]), searched through a GIN index
// (`settings @> '{"ISO": "x.iso"}'`). Unlike openQA's job_settings table this writes one row
// per job instead of one per setting: a 1,000-job product post is 1,000 rows, not 20,000.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const tz = { withTimezone: true } as const;
const createdAt = () => timestamp('t_created', tz).notNull().defaultNow();
const updatedAt = () => timestamp('t_updated', tz).notNull().defaultNow();

export type Settings = Record<string, string>;
/** A job's settings: one value, or several for multi-value settings (WORKER_CLASS, KEY[]). */
export type JobSettings = Record<string, string | string[]>;

/** Facts about this installation (schema generation, instance id), one row per key. */
export const kubeqaMeta = pgTable('kubeqa_meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

// ---------------------------------------------------------------- users and credentials

/** A person or a robot. role: viewer < operator < admin (openQA's roles). */
export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  fullname: text('fullname'),
  email: text('email'),
  role: text('role').notNull().default('viewer'),
  /** The identity provider's subject for OIDC accounts, null for local ones. */
  oidcSubject: text('oidc_subject').unique(),
  /** scrypt hash for local accounts (the embedded admin), null otherwise. */
  passwordHash: text('password_hash'),
  tCreated: createdAt(),
  tUpdated: updatedAt(),
});

/** openQA API keys: `key` is public, `secret` signs requests (HMAC-SHA1 needs it in clear). */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: serial('id').primaryKey(),
    key: text('key').notNull().unique(),
    secret: text('secret').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tExpiration: timestamp('t_expiration', tz),
    tCreated: createdAt(),
  },
  (t) => [index('api_keys_user_idx').on(t.userId)],
);

/** Personal access tokens (Basic/Bearer); only the SHA-256 of the token is stored. */
export const accessTokens = pgTable(
  'access_tokens',
  {
    id: serial('id').primaryKey(),
    tokenHash: text('token_hash').notNull().unique(),
    name: text('name').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tExpiration: timestamp('t_expiration', tz),
    tCreated: createdAt(),
  },
  (t) => [index('access_tokens_user_idx').on(t.userId)],
);

/** Browser sessions of the UI; the cookie carries the id, the page carries the CSRF token. */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    tExpiration: timestamp('t_expiration', tz).notNull(),
    tCreated: createdAt(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

// ---------------------------------------------------------------- configuration

export const jobGroupParents = pgTable('job_group_parents', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  sortOrder: integer('sort_order'),
  defaultPriority: integer('default_priority'),
  description: text('description'),
  tCreated: createdAt(),
  tUpdated: updatedAt(),
});

export const jobGroups = pgTable(
  'job_groups',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull().unique(),
    parentId: integer('parent_id').references(() => jobGroupParents.id, { onDelete: 'set null' }),
    sortOrder: integer('sort_order'),
    defaultPriority: integer('default_priority').notNull().default(50),
    description: text('description'),
    /** The JobTemplates-01 YAML the templates of this group were last set from. */
    template: text('template'),
    keepLogsInDays: integer('keep_logs_in_days').notNull().default(30),
    keepResultsInDays: integer('keep_results_in_days').notNull().default(365),
    sizeLimitGb: integer('size_limit_gb'),
    buildVersionSort: boolean('build_version_sort').notNull().default(true),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [index('job_groups_parent_idx').on(t.parentId)],
);

export const products = pgTable(
  'products',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull().default(''),
    distri: text('distri').notNull(),
    version: text('version').notNull().default('*'),
    flavor: text('flavor').notNull(),
    arch: text('arch').notNull(),
    description: text('description'),
    settings: jsonb('settings').$type<Settings>().notNull().default({}),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [uniqueIndex('products_dvfa_idx').on(t.distri, t.version, t.flavor, t.arch)],
);

export const machines = pgTable('machines', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  backend: text('backend').notNull().default('qemu'),
  description: text('description'),
  settings: jsonb('settings').$type<Settings>().notNull().default({}),
  tCreated: createdAt(),
  tUpdated: updatedAt(),
});

export const testSuites = pgTable('test_suites', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  description: text('description'),
  settings: jsonb('settings').$type<Settings>().notNull().default({}),
  tCreated: createdAt(),
  tUpdated: updatedAt(),
});

/** product × machine × test suite in a group; `name` renames the test (YAML `testsuite:`). */
export const jobTemplates = pgTable(
  'job_templates',
  {
    id: serial('id').primaryKey(),
    productId: integer('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    machineId: integer('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    testSuiteId: integer('test_suite_id')
      .notNull()
      .references(() => testSuites.id, { onDelete: 'cascade' }),
    groupId: integer('group_id')
      .notNull()
      .references(() => jobGroups.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default(''),
    description: text('description'),
    prio: integer('prio'),
    settings: jsonb('settings').$type<Settings>().notNull().default({}),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [
    uniqueIndex('job_templates_unique_idx').on(t.productId, t.machineId, t.testSuiteId, t.name),
    index('job_templates_group_idx').on(t.groupId),
  ],
);

// ---------------------------------------------------------------- workers and assets

export const workers = pgTable(
  'workers',
  {
    id: serial('id').primaryKey(),
    host: text('host').notNull(),
    instance: integer('instance').notNull(),
    /** WORKER_CLASS (comma list), ARCH, CPU, … as the worker reported them. */
    properties: jsonb('properties').$type<Settings>().notNull().default({}),
    error: text('error'),
    jobId: bigint('job_id', { mode: 'number' }),
    tSeen: timestamp('t_seen', tz),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [uniqueIndex('workers_host_instance_idx').on(t.host, t.instance)],
);

/** A place where one job (or one directly chained sequence) runs at a time: a pod slot of a Worker pool or a local one. */
export const slots = pgTable('slots', {
  id: text('id').primaryKey(),
  /** The Worker pool (a Worker CR's name, or "local" for the embedded executor). */
  pool: text('pool').notNull(),
  classes: text('classes').array().notNull().default(sql`'{}'::text[]`),
  lastSeen: timestamp('last_seen', tz).notNull().defaultNow(),
  tCreated: createdAt(),
});

/** type: iso | hdd | repo | other (openQA's); name is the file name under that type. */
export const assets = pgTable(
  'assets',
  {
    id: serial('id').primaryKey(),
    type: text('type').notNull(),
    name: text('name').notNull(),
    size: bigint('size', { mode: 'number' }),
    checksum: text('checksum'),
    fixed: boolean('fixed').notNull().default(false),
    lastUseJobId: bigint('last_use_job_id', { mode: 'number' }),
    /**
     * pending | importing | ready | failed | deleting (domain/assets/types.ts); null for an asset
     * only named by a job's settings, which is usable when the store has it.
     */
    state: text('state'),
    /** Why the import failed (state failed). */
    reason: text('reason'),
    /** Where it is imported from (http(s):// or s3://), without credentials. */
    source: text('source'),
    /** Bytes imported so far while importing. */
    bytesImported: bigint('bytes_imported', { mode: 'number' }),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [uniqueIndex('assets_type_name_idx').on(t.type, t.name)],
);

// ---------------------------------------------------------------- products posted, jobs

export const scheduledProducts = pgTable(
  'scheduled_products',
  {
    id: serial('id').primaryKey(),
    distri: text('distri').notNull().default(''),
    version: text('version').notNull().default(''),
    flavor: text('flavor').notNull().default(''),
    arch: text('arch').notNull().default(''),
    build: text('build').notNull().default(''),
    iso: text('iso').notNull().default(''),
    /** added | scheduling | scheduled | cancelled */
    status: text('status').notNull().default('added'),
    settings: jsonb('settings').$type<Settings>().notNull().default({}),
    results: jsonb('results'),
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [index('scheduled_products_dvfa_idx').on(t.distri, t.version, t.flavor, t.arch, t.id)],
);

export const jobs = pgTable(
  'jobs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    state: text('state').notNull().default('scheduled'),
    result: text('result').notNull().default('none'),
    reason: text('reason'),
    /** Lower runs first (openQA's convention); 50 by default. */
    priority: integer('priority').notNull().default(50),
    /** The job that replaced this one (restart/clone), null while it is the latest. */
    cloneId: bigint('clone_id', { mode: 'number' }),
    groupId: integer('group_id').references(() => jobGroups.id, { onDelete: 'set null' }),
    scheduledProductId: integer('scheduled_product_id').references(() => scheduledProducts.id, {
      onDelete: 'set null',
    }),
    test: text('test').notNull(),
    distri: text('distri').notNull().default(''),
    version: text('version').notNull().default(''),
    flavor: text('flavor').notNull().default(''),
    arch: text('arch').notNull().default(''),
    build: text('build').notNull().default(''),
    machine: text('machine').notNull().default(''),
    settings: jsonb('settings').$type<JobSettings>().notNull().default({}),
    assignedWorkerId: integer('assigned_worker_id').references(() => workers.id, { onDelete: 'set null' }),
    // What the scheduler keeps on a job (docs/scheduler.md, "What the PostgreSQL store must do"):
    /** The slot running (or about to run) the job, and its position in a directly chained sequence. */
    slotId: text('slot_id').references(() => slots.id, { onDelete: 'set null' }),
    sequenceIndex: integer('sequence_index'),
    /** How many restarts led to this job, and how many of the directly preceding ones ended incomplete. */
    ancestors: integer('ancestors').notNull().default(0),
    incompleteAncestors: integer('incomplete_ancestors').notNull().default(0),
    /** Set when a job became final outside the scheduler (runner report, cancel); the scheduler clears it. */
    followUp: boolean('follow_up').notNull().default(false),
    tAssigned: timestamp('t_assigned', tz),
    tSetup: timestamp('t_setup', tz),
    /** SHA-256 of the per-job token the runner presents on the worker-facing routes. */
    tokenHash: text('token_hash'),
    blockedById: bigint('blocked_by_id', { mode: 'number' }),
    tCreated: createdAt(),
    tStarted: timestamp('t_started', tz),
    tFinished: timestamp('t_finished', tz),
    tUpdated: updatedAt(),
  },
  (t) => [
    // The scheduler: next scheduled jobs by priority then age.
    index('jobs_state_priority_idx').on(t.state, t.priority, t.id),
    // Lists filtered by state/result, newest first.
    index('jobs_result_id_idx').on(t.result, t.id),
    // Overview by group and build, build results, obsoletion of older builds.
    index('jobs_group_build_idx').on(t.groupId, t.build, t.id),
    // The UI's overview finds builds and counts outcomes per build, with its filters, from the index
    // alone (index-only scans).
    index('jobs_group_build_outcome_idx').on(
      t.groupId,
      t.build,
      t.state,
      t.result,
      t.cloneId,
      t.distri,
      t.version,
      t.flavor,
      t.arch,
      t.id,
    ),
    index('jobs_dvfa_build_idx').on(t.distri, t.version, t.flavor, t.arch, t.build),
    // `latest`: the newest job per scenario.
    index('jobs_scenario_idx').on(t.distri, t.version, t.flavor, t.arch, t.test, t.machine, t.id),
    index('jobs_test_idx').on(t.test, t.id),
    index('jobs_build_idx').on(t.build, t.id),
    index('jobs_clone_idx').on(t.cloneId).where(sql`clone_id is not null`),
    index('jobs_scheduled_product_idx').on(t.scheduledProductId),
    index('jobs_settings_idx').using('gin', sql`${t.settings} jsonb_path_ops`),
    // One slot, one job (or one sequence), enforced by the database as well as by the scheduler.
    uniqueIndex('jobs_slot_sequence_idx')
      .on(t.slotId, t.sequenceIndex)
      .where(sql`state in ('assigned', 'setup', 'running', 'uploading')`),
    uniqueIndex('jobs_slot_busy_idx').on(t.slotId).where(sql`state in ('setup', 'running', 'uploading')`),
    index('jobs_follow_up_idx').on(t.id).where(sql`follow_up`),
  ],
);

/**
 * The Job custom resource of a job (CR uid <-> job id). origin: `cr` when the CR was applied and
 * ingested, `api` when the operator created the CR as a mirror of a job posted through the API.
 */
export const jobResources = pgTable(
  'job_resources',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .primaryKey()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    namespace: text('namespace').notNull(),
    name: text('name').notNull(),
    uid: text('uid').notNull(),
    origin: text('origin').notNull(),
    tCreated: createdAt(),
  },
  (t) => [
    uniqueIndex('job_resources_uid_idx').on(t.uid),
    index('job_resources_name_idx').on(t.namespace, t.name),
  ],
);

/** dependency: chained (START_AFTER), directly_chained (START_DIRECTLY_AFTER), parallel. */
export const jobDependencies = pgTable(
  'job_dependencies',
  {
    childJobId: bigint('child_job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    parentJobId: bigint('parent_job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    dependency: text('dependency').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.childJobId, t.parentJobId, t.dependency] }),
    index('job_dependencies_parent_idx').on(t.parentJobId),
  ],
);

export const jobsAssets = pgTable(
  'jobs_assets',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    assetId: integer('asset_id')
      .notNull()
      .references(() => assets.id, { onDelete: 'cascade' }),
    /** True when the job produces the asset (PUBLISH_HDD_n), false when it uses it. */
    createdBy: boolean('created_by').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.assetId] }), index('jobs_assets_asset_idx').on(t.assetId)],
);

// ---------------------------------------------------------------- results

export const jobModules = pgTable(
  'job_modules',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    category: text('category').notNull().default(''),
    script: text('script').notNull().default(''),
    /** none | running | passed | softfailed | failed | skipped | canceled */
    result: text('result').notNull().default('none'),
    sortOrder: integer('sort_order').notNull().default(0),
    milestone: boolean('milestone').notNull().default(false),
    important: boolean('important').notNull().default(false),
    fatal: boolean('fatal').notNull().default(false),
    alwaysRollback: boolean('always_rollback').notNull().default(false),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [uniqueIndex('job_modules_job_name_idx').on(t.jobId, t.name)],
);

/** Content-addressed files (screenshots, logs, videos): stored once per SHA-256. */
export const blobs = pgTable('blobs', {
  hash: text('hash').primaryKey(),
  size: bigint('size', { mode: 'number' }).notNull(),
  contentType: text('content_type').notNull().default('application/octet-stream'),
  tCreated: createdAt(),
});

export const jobModuleSteps = pgTable(
  'job_module_steps',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    moduleId: bigint('module_id', { mode: 'number' })
      .notNull()
      .references(() => jobModules.id, { onDelete: 'cascade' }),
    num: integer('num').notNull(),
    /** screen | serial | text | audio */
    kind: text('kind').notNull(),
    result: text('result').notNull().default('none'),
    title: text('title'),
    text: text('text'),
    needle: text('needle'),
    similarity: real('similarity'),
    /** SHA-256 of the screenshot (see blobs and screenshots). */
    screenshotHash: text('screenshot_hash'),
    details: jsonb('details'),
  },
  (t) => [uniqueIndex('job_module_steps_module_num_idx').on(t.moduleId, t.num)],
);

/** Screenshots are blobs that steps and jobs share; linked per job for cleanup. */
export const screenshotLinks = pgTable(
  'screenshot_links',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    hash: text('hash')
      .notNull()
      .references(() => blobs.hash),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.hash] }), index('screenshot_links_hash_idx').on(t.hash)],
);

/** Named result files of a job (logs, videos, uploaded files) → blob. */
export const jobArtefacts = pgTable(
  'job_artefacts',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    hash: text('hash')
      .notNull()
      .references(() => blobs.hash),
    tCreated: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.name] }), index('job_artefacts_hash_idx').on(t.hash)],
);

/** Every applied job state change (the scheduler's and the API's audit of transitions). */
export const jobStateChanges = pgTable(
  'job_state_changes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    fromState: text('from_state').notNull(),
    fromResult: text('from_result').notNull(),
    toState: text('to_state').notNull(),
    toResult: text('to_result').notNull(),
    /** Who made it: "api", "runner", "scheduler", … */
    by: text('by').notNull(),
    tCreated: createdAt(),
  },
  (t) => [index('job_state_changes_job_idx').on(t.jobId, t.id)],
);

// ---------------------------------------------------------------- people's notes, audit

export const comments = pgTable(
  'comments',
  {
    id: serial('id').primaryKey(),
    jobId: bigint('job_id', { mode: 'number' }).references(() => jobs.id, { onDelete: 'cascade' }),
    groupId: integer('group_id').references(() => jobGroups.id, { onDelete: 'cascade' }),
    parentGroupId: integer('parent_group_id').references(() => jobGroupParents.id, { onDelete: 'cascade' }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    text: text('text').notNull(),
    tCreated: createdAt(),
    tUpdated: updatedAt(),
  },
  (t) => [index('comments_job_idx').on(t.jobId), index('comments_group_idx').on(t.groupId)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    event: text('event').notNull(),
    eventData: jsonb('event_data'),
    tCreated: createdAt(),
  },
  (t) => [
    index('audit_events_created_idx').on(t.tCreated),
    index('audit_events_event_idx').on(t.event, t.id),
  ],
);
