/**
 * Exit codes (README.md#exit-codes) and the typed errors that carry them.
 *
 * Every failure the user can act on is a `CliError` subclass: its message is the `error:` line,
 * its hint the line after it, its `exit` the process exit code. Anything else that escapes a
 * command is a bug and exits 1 (`Exit.runtime`).
 */

export const Exit = {
  ok: 0,
  runtime: 1,
  usage: 2,
  rejected: 64,
  malformed: 65,
  unreachable: 69,
  provisioning: 75,
  noAuth: 77,
  config: 78,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** Stable machine-readable codes for `--error-format json|yaml` (datumctl's envelope `error.code`). */
export const ERROR_CODES = [
  "usage",
  "rejected",
  "not_found",
  "conflict",
  "malformed",
  "unreachable",
  "provisioning",
  "not_authenticated",
  "forbidden",
  "config",
  "quota",
  "unsupported_platform",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: ExitCode,
    readonly hint?: string,
    readonly code: ErrorCode = "internal",
    /** Wrapped cause text for `details` in the json/yaml envelope. */
    readonly details?: string,
    /** True when retrying the same operation later may succeed. */
    readonly retryable = false,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags or arguments (exit 2). */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, Exit.usage, hint, "usage");
  }
}

/** Semantically rejected: unknown tunnel, name conflict, slot busy (exit 64). */
export class Rejected extends CliError {
  constructor(message: string, hint?: string, code: ErrorCode = "rejected") {
    super(message, Exit.rejected, hint, code);
  }
}

/** Malformed local config/state or control-plane data (exit 65). */
export class Malformed extends CliError {
  constructor(message: string, hint?: string, details?: string) {
    super(message, Exit.malformed, hint, "malformed", details);
  }
}

/**
 * The control plane could not be reached or kept failing (exit 69): worth retrying later. Also the
 * data plane unavailable on this platform (`unsupported_platform`), a permanent limit: not retryable.
 */
export class Unreachable extends CliError {
  constructor(message: string, hint?: string, details?: string, code: ErrorCode = "unreachable") {
    super(message, Exit.unreachable, hint, code, details, code !== "unsupported_platform");
  }
}

/** Still provisioning after the wait window (exit 75). */
export class StillProvisioning extends CliError {
  constructor(message: string, hint?: string) {
    super(message, Exit.provisioning, hint, "provisioning", undefined, true);
  }
}

/** Not authenticated, permission denied, or `--system` without root (exit 77). */
export class NotAuthenticated extends CliError {
  constructor(message: string, hint?: string, details?: string, code: ErrorCode = "not_authenticated") {
    super(message, Exit.noAuth, hint, code, details);
  }
}

/** Configuration error: helper missing, no service-account session (exit 78). */
export class ConfigError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, Exit.config, hint, "config");
  }
}

export function isCliError(err: unknown): err is CliError {
  return err instanceof CliError;
}
