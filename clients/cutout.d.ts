// Types of cutout.js (the cutout API client, v1). Checked by `tsc --noEmit` over
// clients/example.ts (tests/test_js_client.py).

export declare const API_VERSION: "1";
export declare const DEFAULT_MAX_BYTES: number;
export declare const DEFAULT_DIRECT_UPLOAD_ABOVE: number;
export declare const DEFAULT_RETRIES: number;
export declare const ACCEPTED_TYPES: readonly string[];

/** A machine-readable code: one of the API's (the OpenAPI document's ErrorCode) or the
 * client's own `network`, `aborted`, `bad_response`. */
export type ErrorCode = string;

export declare class CutoutError extends Error {
  readonly name: "CutoutError";
  readonly code: ErrorCode;
  /** The HTTP status, 0 when no answer came. */
  readonly status: number;
  /** Seconds the service asked to wait (Retry-After), if it did. */
  readonly retryAfter: number | null;
  /** The failed job, when a poll ended in `failed`. */
  readonly job: Job | null;
  readonly transient: boolean;
  constructor(code: ErrorCode, message: string, extra?: { status?: number; retryAfter?: number | null; job?: Job | null });
}

export type JobState = "queued" | "running" | "done" | "failed";
export type OutputFormat = "png" | "webp" | "jpeg" | "mask";
export type Priority = "high" | "standard" | "batch";

export interface Rendition {
  url: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
}

export interface Result extends Rendition {
  /** The small display copy (WebP), when the service makes one: show it first. */
  display: Rendition | null;
  /** The full-resolution result, to download; null until it is written. */
  full: Rendition | null;
  [extra: string]: unknown;
}

export interface ApiErrorBody {
  code: ErrorCode;
  message: string;
}

export interface Job {
  id: string;
  state: JobState;
  priority: Priority;
  effects: { name: string; params: Record<string, unknown> }[];
  input: { width: number; height: number; format: string; bytes: number };
  /** A displayable JPEG of the input (HEIC included), once a worker has decoded it. */
  preview: { url: string; width: number; height: number } | null;
  results: Record<string, Rendition>;
  displays?: Record<string, Rendition>;
  effect_errors: Record<string, ApiErrorBody>;
  error: ApiErrorBody | null;
  /** Answered from stored results, no worker involved. */
  cache_hit: boolean;
  timings: { queued_at: string | null; started_at: string | null; finished_at: string | null; stages: Record<string, number> };
  model: { name: string; version: string; fallback: boolean; options: Record<string, unknown> } | null;
  worker: { id: string; cold_start: boolean; warm?: boolean | null } | null;
  poll_url?: string;
  [extra: string]: unknown;
}

export interface Progress {
  /** `upload`: the photo's bytes; `submit`: the job request after a direct upload. */
  phase: "upload" | "submit";
  loaded: number;
  total: number;
}

export interface SubmitOptions {
  effects?: string[];
  params?: Record<string, Record<string, unknown>>;
  format?: OutputFormat;
  priority?: Priority;
  /** The second image for the background effect's mode `image`. */
  background?: Blob;
}

export interface Cancellable {
  signal?: AbortSignal;
}

export interface SubmitHooks extends Cancellable {
  onProgress?: (progress: Progress) => void;
  idempotencyKey?: string;
}

export interface PollHooks extends Cancellable {
  onResult?: (effect: string, result: Result, job: Job) => void;
  onEffectError?: (effect: string, error: ApiErrorBody, job: Job) => void;
  onUpdate?: (job: Job) => void;
}

export interface ClientOptions {
  /** Where the API is, e.g. "https://cutout.example"; "" means this page's origin. */
  baseUrl?: string;
  /** A publishable key (pk_live_…) bound to this page's origin, or a secret key on a server. */
  key?: string | null;
  maxBytes?: number;
  /** Photos above this many bytes go straight to storage (POST /v1/uploads + PUT). */
  directUploadAbove?: number;
  /** How many times an interrupted upload is tried again. */
  retries?: number;
  retryDelayMs?: number;
}

export interface EffectsCatalogue {
  effects: { name: string; summary?: string; params: Record<string, unknown> }[];
  formats: OutputFormat[];
}

export declare class Cutout {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  warm(options?: Cancellable): Promise<{ autoscale: boolean; [extra: string]: unknown }>;
  effects(options?: Cancellable): Promise<EffectsCatalogue>;
  check(file: Blob & { name?: string }): void;
  submit(file: Blob & { name?: string }, options?: SubmitOptions, hooks?: SubmitHooks): Promise<Job>;
  poll(job: Pick<Job, "id"> & Partial<Job>, hooks?: PollHooks): Promise<Job>;
}

export declare function download(url: string, filename: string, options?: Cancellable): Promise<Blob>;
export declare function resultFilename(photoName: string | undefined, effect: string, format: string): string;
