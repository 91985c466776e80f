/**
 * The release targets (docs/architecture.md#distribution): one `bun build --compile` executable each,
 * named and labelled the way datumctl installs plugins (docs/wire-facts.md#release-archives): archive
 * `datumctl-connect_<OS>_<arch>` with goreleaser's OS/arch words, catalog selectors with Go's
 * GOOS/GOARCH.
 *
 * `iroh` is the `@number0/iroh-<suffix>` package whose native module the target embeds. @number0/iroh
 * 1.1.0 publishes only linux-x64 (glibc and musl) and darwin-arm64 (docs/architecture.md#distribution;
 * the other packages its `optionalDependencies` name answer 404 on npm), so the rest ship without the
 * data plane: `tunnel listen` exits 69 there, everything else works. When a package appears, setting
 * `iroh` here is all it takes.
 */
import { closeSync, openSync, readSync } from "node:fs";

export interface ReleaseTarget {
  /** Our short name, also the build directory: `linux-x64`, `linux-x64-musl`, … */
  readonly id: string;
  /** `Bun.build` compile target. */
  readonly bun: Bun.Build.CompileTarget;
  /** What the executable reports as `process.platform` / `process.arch`. */
  readonly platform: "linux" | "darwin" | "win32";
  readonly arch: "x64" | "arm64";
  readonly libc?: "glibc" | "musl";
  /** datumctl's archive naming (goreleaser's `{{ title .Os }}`, `x86_64`). */
  readonly archiveOs: "Linux" | "Darwin" | "Windows";
  readonly archiveArch: "x86_64" | "arm64";
  /** Extra part of the archive name for a variant datumctl never picks on its own (musl). */
  readonly archiveVariant?: string;
  readonly archiveExt: "tar.gz" | "zip";
  /** Catalog selector labels (Go names), or none for a target datumctl cannot select (musl). */
  readonly selector?: { readonly os: "linux" | "darwin" | "windows"; readonly arch: "amd64" | "arm64" };
  /** The executable's name inside the archive. */
  readonly executable: string;
  /** `@number0/iroh-<suffix>` package suffix; the native module is `iroh.<suffix>.node`. */
  readonly irohPackage: string;
  /** Whether that package is published (its native module gets embedded). */
  readonly iroh: boolean;
  /** What `file -b` must print for the executable (format and architecture). */
  readonly fileMatch: RegExp;
}

const EXE = "datumctl-connect";

export const TARGETS: readonly ReleaseTarget[] = [
  {
    id: "linux-x64",
    bun: "bun-linux-x64",
    platform: "linux",
    arch: "x64",
    libc: "glibc",
    archiveOs: "Linux",
    archiveArch: "x86_64",
    archiveExt: "tar.gz",
    selector: { os: "linux", arch: "amd64" },
    executable: EXE,
    irohPackage: "linux-x64-gnu",
    iroh: true,
    fileMatch: /^ELF 64-bit LSB executable, x86-64, .*interpreter \/lib64\/ld-linux-x86-64\.so\.2/,
  },
  {
    id: "linux-arm64",
    bun: "bun-linux-arm64",
    platform: "linux",
    arch: "arm64",
    libc: "glibc",
    archiveOs: "Linux",
    archiveArch: "arm64",
    archiveExt: "tar.gz",
    selector: { os: "linux", arch: "arm64" },
    executable: EXE,
    irohPackage: "linux-arm64-gnu",
    iroh: false,
    fileMatch: /^ELF 64-bit LSB executable, ARM aarch64, .*interpreter \/lib\/ld-linux-aarch64\.so\.1/,
  },
  {
    id: "darwin-x64",
    bun: "bun-darwin-x64",
    platform: "darwin",
    arch: "x64",
    archiveOs: "Darwin",
    archiveArch: "x86_64",
    archiveExt: "tar.gz",
    selector: { os: "darwin", arch: "amd64" },
    executable: EXE,
    irohPackage: "darwin-x64",
    iroh: false,
    fileMatch: /^Mach-O 64-bit x86_64 executable/,
  },
  {
    id: "darwin-arm64",
    bun: "bun-darwin-arm64",
    platform: "darwin",
    arch: "arm64",
    archiveOs: "Darwin",
    archiveArch: "arm64",
    archiveExt: "tar.gz",
    selector: { os: "darwin", arch: "arm64" },
    executable: EXE,
    irohPackage: "darwin-arm64",
    iroh: true,
    fileMatch: /^Mach-O 64-bit arm64 executable/,
  },
  {
    id: "windows-x64",
    bun: "bun-windows-x64",
    platform: "win32",
    arch: "x64",
    archiveOs: "Windows",
    archiveArch: "x86_64",
    archiveExt: "zip",
    selector: { os: "windows", arch: "amd64" },
    executable: `${EXE}.exe`,
    irohPackage: "win32-x64-msvc",
    iroh: false,
    fileMatch: /^PE32\+ executable \(console\) x86-64, for MS Windows/,
  },
  {
    id: "windows-arm64",
    bun: "bun-windows-arm64",
    platform: "win32",
    arch: "arm64",
    archiveOs: "Windows",
    archiveArch: "arm64",
    archiveExt: "zip",
    selector: { os: "windows", arch: "arm64" },
    executable: `${EXE}.exe`,
    irohPackage: "win32-arm64-msvc",
    iroh: false,
    fileMatch: /^PE32\+ executable \(console\) Aarch64, for MS Windows/,
  },
  {
    // Alpine and other musl systems. datumctl selects archives by OS and arch only, so this one is
    // never picked by `plugin install`: it has its own name and no catalog entry (manual install).
    id: "linux-x64-musl",
    bun: "bun-linux-x64-musl",
    platform: "linux",
    arch: "x64",
    libc: "musl",
    archiveOs: "Linux",
    archiveArch: "x86_64",
    archiveVariant: "musl",
    archiveExt: "tar.gz",
    executable: EXE,
    irohPackage: "linux-x64-musl",
    iroh: true,
    fileMatch: /^ELF 64-bit LSB executable, x86-64, .*interpreter \/lib\/ld-musl-x86_64\.so\.1/,
  },
];

/** `datumctl-connect_Linux_x86_64.tar.gz`, `datumctl-connect_Linux_x86_64_musl.tar.gz`, … */
export function archiveName(target: ReleaseTarget): string {
  const variant = target.archiveVariant ? `_${target.archiveVariant}` : "";
  return `${EXE}_${target.archiveOs}_${target.archiveArch}${variant}.${target.archiveExt}`;
}

/**
 * Whether the running Bun is a musl build (Alpine): its ELF interpreter, near the start of the
 * file, is `/lib/ld-musl-*`. Asking the executable, not the file system, keeps a glibc machine that
 * merely has musl installed a glibc host.
 */
function hostIsMusl(): boolean {
  if (process.platform !== "linux") return false;
  try {
    const fd = openSync(process.execPath, "r");
    try {
      const head = Buffer.alloc(4096);
      readSync(fd, head, 0, head.length, 0);
      return head.includes("ld-musl-");
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** The target this machine runs, if it is one we release. */
export async function hostTarget(): Promise<ReleaseTarget | undefined> {
  const musl = hostIsMusl();
  return TARGETS.find(
    (t) => t.platform === process.platform && t.arch === process.arch && (t.platform !== "linux" || (t.libc === "musl") === musl),
  );
}

/** `all`, `host`, or a comma-separated list of ids (`linux-x64,darwin-arm64`). */
export async function selectTargets(spec: string): Promise<ReleaseTarget[]> {
  if (spec === "all") return [...TARGETS];
  const selected: ReleaseTarget[] = [];
  for (const raw of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const target = raw === "host" ? await hostTarget() : TARGETS.find((t) => t.id === raw || t.bun === raw);
    if (!target) {
      const known = TARGETS.map((t) => t.id).join(", ");
      throw new Error(raw === "host" ? `this machine (${process.platform}-${process.arch}) is not a release target` : `unknown target "${raw}" (known: host, all, ${known})`);
    }
    if (!selected.includes(target)) selected.push(target);
  }
  if (selected.length === 0) throw new Error("no targets selected");
  return selected;
}
