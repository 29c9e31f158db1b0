// Type definitions for @buildnet/client.

import { EventEmitter } from 'node:events';

/** How a package was brought up to date. */
export type Tier = 'instant_skip' | 'hash_skip' | 'cache_restore' | 'full_build';

/** A package's outcome; a build's is success, failed or cancelled. */
export type Status = 'success' | 'failed' | 'skipped' | 'cancelled' | 'running' | 'queued' | 'interrupted';

/** Codes of BuildNetError: the C API's status names, plus the Client's own. */
export type ErrorCode =
  | 'BN_ERR_INVALID_ARGUMENT'
  | 'BN_ERR_INVALID_HANDLE'
  | 'BN_ERR_CONFIG'
  | 'BN_ERR_UNKNOWN_PACKAGE'
  | 'BN_ERR_CLOSED'
  | 'BN_ERR_READ_ONLY'
  | 'BN_ERR_NOT_FOUND'
  | 'BN_ERR_CANCELLED'
  | 'BN_ERR_INTERNAL'
  | 'BN_ERR_PANIC'
  | 'BN_ERR_NOT_BUILT'
  | 'BN_ERR_UNAVAILABLE'
  | 'BN_ERR_UNAUTHORIZED'
  | 'BN_ERR_CONFLICT';

/** The error every method rejects (or throws) with. */
export class BuildNetError extends Error {
  readonly code: ErrorCode;
  /** Client only: the HTTP status. */
  readonly status?: number;
  /** Client only: the daemon's own error code, such as 'unknown_package'. */
  readonly serverCode?: string;
  /** Client only, for an unknown package: similar names. */
  readonly suggestions?: string[];
}

/** Why a package got its tier, or what changed. */
export interface Reason {
  kind: string;
  path?: string;
  name?: string;
  source?: 'local' | 'remote';
  dependency?: string;
  reasons?: Reason[];
  message?: string;
}

export interface PackageResult {
  name: string;
  tier?: Tier;
  status: Status;
  duration_ms: number;
  digest?: string;
  error?: string;
  reason?: Reason;
  reasons?: Reason[];
  cache_source?: string;
  saved_ms?: number;
  /** The last lines of a failed package's output. */
  output?: string[];
}

/** A build's outcome, the shape of `buildnetd build --json`. */
export interface BuildResult {
  id: string;
  status: 'success' | 'failed' | 'cancelled';
  duration_ms: number;
  started_at: string;
  requester?: string;
  error?: string;
  dry_run?: boolean;
  warnings?: string[];
  packages: PackageResult[];
}

export type EventType =
  | 'build:queued'
  | 'build:start'
  | 'package:start'
  | 'package:output'
  | 'package:complete'
  | 'build:complete'
  | 'cache:cleared'
  | 'config:reloaded';

/** One engine event (the same JSON from the addon, SSE and C). */
export interface BuildEvent {
  seq: number;
  type: EventType | string;
  time: string;
  build_id?: string;
  package?: string;
  /** package:output */
  stream?: 'stdout' | 'stderr';
  /** package:output: one line, ANSI escapes kept */
  line?: string;
  /** package:complete */
  tier?: Tier;
  status?: Status;
  duration_ms?: number;
  digest?: string;
  error?: string;
  reason?: Reason;
  /** build:start: the selection, in build order */
  packages?: string[];
  requester?: string;
  /** build:complete */
  result?: BuildResult;
}

export interface BuildOptions {
  /** Run every selected package's command, ignoring state and cache. */
  force?: boolean;
  /** Recorded as who asked; default 'node'. */
  requester?: string;
  /** Turborepo-style filters: 'api...', '...shared', './apps/*', '!docs'. Engine only. */
  filters?: string[];
  priority?: number;
}

export interface GraphNode {
  name: string;
  deps: string[];
  dependents: string[];
  level: number;
}

export interface Graph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  corrupt: number;
}

export interface HistoryQuery {
  package?: string;
  tier?: Tier;
  status?: string;
  requester?: string;
  since?: string | Date;
  until?: string | Date;
  /** Text search in ids, requesters, package names and errors. */
  q?: string;
  limit?: number;
  cursor?: string;
}

export interface RecordedBuild {
  id: string;
  status: string;
  requester?: string;
  priority: number;
  targets: string[] | null;
  force: boolean;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  duration_ms: number;
  error?: string;
  packages: { name: string; tier?: Tier; status: string; duration_ms: number; digest?: string; error?: string }[];
}

export interface HistoryPage {
  builds: RecordedBuild[];
  /** Cursor of the next page; '' on the last one. */
  next: string;
}

export interface Explanation {
  package: string;
  build_id: string;
  tier?: Tier;
  status: Status;
  digest?: string;
  since?: string;
  reasons: Reason[];
}

/** Engine.status(): the in-process engine's view. */
export interface EngineStatus {
  root: string;
  concurrency: number;
  active_builds: string[];
  packages: {
    name: string;
    path: string;
    dependencies: string[];
    digest?: string;
    last_build?: string;
    last_tier?: Tier;
    last_status?: Status;
    last_duration_ms: number;
    last_built_at?: string;
  }[];
}

/** Client.status(): the daemon's GET /status (richer than EngineStatus). */
export interface DaemonStatus {
  version: string;
  started_at: string;
  uptime_s: number;
  workspace: string;
  concurrency: number;
  packages: unknown[];
  active_builds: { id: string; requester: string; started_at: string; total: number; done: number; running: string[] }[];
  queue: unknown[];
  cache: CacheStats;
  host: Record<string, number>;
  [key: string]: unknown;
}

export interface WatchOptions {
  /** Packages to build on a change; default all. */
  packages?: string | string[];
  force?: boolean;
  requester?: string;
  /** Quiet time before a build starts; default 100 ms. */
  debounceMs?: number;
}

/** Called after each build that watch() starts; files are the changed paths. */
export type WatchCallback = (err: BuildNetError | Error | null, result: BuildResult | undefined, files: string[]) => void;

export interface Watcher {
  close(): void;
}

interface Events<Self> {
  on(event: 'event', listener: (ev: BuildEvent) => void): Self;
  on(event: EventType, listener: (ev: BuildEvent) => void): Self;
  once(event: 'event', listener: (ev: BuildEvent) => void): Self;
  once(event: EventType, listener: (ev: BuildEvent) => void): Self;
  off(event: 'event' | EventType, listener: (ev: BuildEvent) => void): Self;
}

export interface EngineOptions {
  /** Where state and the default cache live; default <root>/.buildnet. */
  stateDir?: string;
  /** Build commands at once; default from config.json, then the CPUs. */
  concurrency?: number;
  /** Environment of build commands; default process.env. */
  env?: Record<string, string>;
  /** Open without writing: only plan() works. */
  readOnly?: boolean;
}

/** BuildNet in this process, through the native addon. */
export class Engine extends EventEmitter implements Events<Engine> {
  constructor(root: string, options?: EngineOptions);
  readonly root: string;
  readonly closed: boolean;
  build(packages?: string | string[], options?: BuildOptions): Promise<BuildResult>;
  buildAll(options?: BuildOptions): Promise<BuildResult>;
  /** Starts a build; result settles when it ends. */
  start(packages?: string | string[], options?: BuildOptions): { id: string; result: Promise<BuildResult> };
  cancel(buildId: string): void;
  plan(packages?: string | string[], options?: BuildOptions): Promise<BuildResult>;
  why(pkg: string, since?: string): Promise<Explanation>;
  status(): Promise<EngineStatus>;
  graph(): Promise<Graph>;
  history(query?: HistoryQuery): Promise<HistoryPage>;
  cacheStats(): Promise<CacheStats>;
  clearCache(): Promise<void>;
  watch(globs: string | string[], fn: WatchCallback, options?: WatchOptions): Watcher;
  /** Cancels running builds and releases the workspace; idempotent. */
  close(): void;
  on(event: 'event' | EventType, listener: (ev: BuildEvent) => void): this;
  on(event: 'close', listener: () => void): this;
  once(event: 'event' | EventType, listener: (ev: BuildEvent) => void): this;
  once(event: 'close', listener: () => void): this;
  off(event: 'event' | EventType | 'close', listener: (...args: any[]) => void): this;
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Abort each request after this many ms; default none. */
  timeoutMs?: number;
  /** Delay before the event stream reconnects; default 1000 ms (the daemon may set it). */
  retryMs?: number;
}

export interface ClientWatchOptions extends WatchOptions {
  /** The workspace root on this machine; default the daemon's. */
  root?: string;
}

/** A client of a running buildnetd, with the Engine's method names and events. */
export class Client extends EventEmitter implements Events<Client> {
  constructor(url?: string, options?: ClientOptions);
  readonly url: string;
  readonly closed: boolean;
  build(packages?: string | string[], options?: BuildOptions): Promise<BuildResult>;
  buildAll(options?: BuildOptions): Promise<BuildResult>;
  /** Starts a build; result settles on its build:complete event. */
  start(packages?: string | string[], options?: BuildOptions): Promise<{ id: string; result: Promise<BuildResult> }>;
  cancel(buildId: string): Promise<void>;
  health(): Promise<{ status: string; version: string; workspace: string; uptime_s: number }>;
  status(): Promise<DaemonStatus>;
  graph(): Promise<Graph>;
  history(query?: HistoryQuery): Promise<HistoryPage>;
  cacheStats(): Promise<CacheStats>;
  clearCache(): Promise<void>;
  log(buildId: string, options?: { pkg?: string; ansi?: boolean }): Promise<string>;
  watch(globs: string | string[], fn: WatchCallback, options?: ClientWatchOptions): Watcher & { ready: Promise<void> };
  /** Opens the event stream (adding a listener does it too). */
  connect(): Promise<void>;
  /** Closes the event stream; idempotent. */
  close(): void;
  on(event: 'event' | EventType, listener: (ev: BuildEvent) => void): this;
  on(event: 'connect' | 'disconnect' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: BuildNetError) => void): this;
  once(event: 'event' | EventType, listener: (ev: BuildEvent) => void): this;
  once(event: 'connect' | 'disconnect' | 'close', listener: () => void): this;
  once(event: 'error', listener: (err: BuildNetError) => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
}

/** libbuildnet's version (needs the addon). */
export function version(): string;

/** Compiles a workspace-relative glob (`**`, `*`, `?`, `{a,b}`) as watch() does. */
export function globToRegExp(glob: string): RegExp;
