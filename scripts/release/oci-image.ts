/**
 * The container image, assembled by hand as an OCI image layout in one tar (an "OCI archive",
 * what `podman load -i` and `skopeo copy oci-archive:` read): no Docker daemon, no buildah, no
 * external tool at all. One layer holding the linux-x64 (glibc) executable, the glibc libraries it
 * and the embedded iroh module load, `/bin/sh` for the entrypoint script, CA certificates,
 * `/etc/passwd` with the non-root user the image runs as, and `/tmp`. Entries are sorted, owned by
 * numbers, stamped with one time, gzip without a name or time: the same inputs give the same
 * digests. README "Run in a container" says how it is configured.
 *
 * The pure parts (the tar writer, the OCI documents, the root file system's entries) take their
 * inputs as arguments; `buildImage` reads the host's files and writes the archive.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

/** What `podman load` names the image (`localhost/datumctl-connect:<version>`). */
export const IMAGE_NAME = "datumctl-connect";
/** The archive `npm run build` writes under dist/. */
export const IMAGE_ARCHIVE = "datumctl-connect-oci.tar";
/** The user the image runs as (distroless's "nonroot" numbers). */
export const IMAGE_UID = 65532;
export const IMAGE_USER = "datum";
export const IMAGE_HOME = "/home/datum";
export const IMAGE_EXECUTABLE = "/usr/local/bin/datumctl-connect";
export const IMAGE_ENTRYPOINT = "/usr/local/bin/datumctl-connect-container";
/** Where a deployment mounts its credentials helper (an executable answering `auth get-token`). */
export const IMAGE_HELPER = "/etc/datumctl-connect/credentials-helper";
/** The tunnel's name inside the image unless DATUM_CONNECT_TUNNEL says otherwise. */
export const IMAGE_TUNNEL = "container";
export const IMAGE_HEALTH_PORT = 9090;

export interface TarEntry {
  readonly path: string;
  readonly type: "file" | "dir";
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly data?: Uint8Array;
}

function octal(value: number, width: number): string {
  // width - 1 digits, then NUL (ustar).
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function header(entry: TarEntry, mtime: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const name = entry.type === "dir" ? `${entry.path.replace(/\/$/, "")}/` : entry.path;
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/", name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar: path too long: ${name}`);
  }
  const size = entry.type === "file" ? (entry.data?.length ?? 0) : 0;
  h.write(base, 0, 100, "utf8");
  h.write(octal(entry.mode & 0o7777, 8), 100, "ascii");
  h.write(octal(entry.uid ?? 0, 8), 108, "ascii");
  h.write(octal(entry.gid ?? 0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(mtime, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum placeholder: eight spaces
  h.write(entry.type === "dir" ? "5" : "0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

/** A POSIX ustar stream of `entries`, sorted by path, every entry stamped `mtime` (seconds). */
export function tarStream(entries: readonly TarEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  for (const entry of sorted) {
    parts.push(header(entry, mtime));
    if (entry.type === "file" && entry.data && entry.data.length > 0) {
      parts.push(Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length));
      const pad = (512 - (entry.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly data: Buffer;
}

function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: `sha256:${sha256Hex(data)}`, size: data.length, data };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export interface ImageSpec {
  readonly version: string;
  readonly commit: string;
  /** Seconds since the epoch; the config's `created` and every tar entry's time. */
  readonly epoch: number;
  /** The one layer, uncompressed. */
  readonly layer: Buffer;
}

export interface OciImage {
  readonly layer: Blob;
  readonly config: Blob;
  readonly manifest: Blob;
  readonly index: Buffer;
  /** The diff ID: sha256 of the uncompressed layer. */
  readonly diffId: string;
}

/** The image's runtime configuration (OCI image config `config`). */
export function imageRuntimeConfig(): Record<string, unknown> {
  return {
    User: `${IMAGE_UID}:${IMAGE_UID}`,
    Env: [
      "PATH=/usr/local/bin:/usr/bin:/bin",
      `HOME=${IMAGE_HOME}`,
      "TMPDIR=/tmp",
      "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
      `DATUM_CREDENTIALS_HELPER=${IMAGE_HELPER}`,
      `DATUM_CONNECT_TUNNEL=${IMAGE_TUNNEL}`,
      `DATUM_CONNECT_HEALTH=0.0.0.0:${IMAGE_HEALTH_PORT}`,
    ],
    Entrypoint: [IMAGE_ENTRYPOINT],
    WorkingDir: IMAGE_HOME,
    StopSignal: "SIGTERM",
    ExposedPorts: { [`${IMAGE_HEALTH_PORT}/tcp`]: {} },
  };
}

/** The OCI documents around one gzip'd layer. */
export function ociImage(spec: ImageSpec): OciImage {
  const diffId = `sha256:${sha256Hex(spec.layer)}`;
  const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(spec.layer, { level: 9 }));
  const created = new Date(spec.epoch * 1000).toISOString();
  const labels = {
    "org.opencontainers.image.title": "datumctl-connect",
    "org.opencontainers.image.version": spec.version,
    "org.opencontainers.image.revision": spec.commit,
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.source": "https://github.com/datum-cloud/datumctl-connect",
  };
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    json({
      created,
      architecture: "amd64",
      os: "linux",
      config: { ...imageRuntimeConfig(), Labels: labels },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created, created_by: "scripts/release/oci-image.ts", comment: `datumctl-connect ${spec.version} (${spec.commit})` }],
    }),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      annotations: labels,
    }),
  );
  const index = json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { "org.opencontainers.image.ref.name": `${IMAGE_NAME}:${spec.version}` },
      },
    ],
  });
  return { layer, config, manifest, index, diffId };
}

/** The OCI layout (oci-layout, index.json, blobs/) as one tar: the OCI archive. */
export function ociArchive(image: OciImage, epoch: number): Buffer {
  const file = (path: string, data: Buffer): TarEntry => ({ path, type: "file", mode: 0o644, data });
  const blobPath = (b: Blob) => `blobs/sha256/${b.digest.slice("sha256:".length)}`;
  return tarStream(
    [
      { path: "blobs", type: "dir", mode: 0o755 },
      { path: "blobs/sha256", type: "dir", mode: 0o755 },
      file("oci-layout", json({ imageLayoutVersion: "1.0.0" })),
      file("index.json", image.index),
      file(blobPath(image.layer), image.layer.data),
      file(blobPath(image.config), image.config.data),
      file(blobPath(image.manifest), image.manifest.data),
    ],
    epoch,
  );
}

/**
 * The entrypoint: the tunnel from the environment, JSON logs on stdout, the health endpoint on
 * DATUM_CONNECT_HEALTH. `exec`, so the agent is PID 1's program and gets SIGTERM itself.
 */
export function entrypointScript(): string {
  return `#!/bin/sh
# datumctl-connect in a container (README "Run in a container"): configured by the environment only.
set -eu
if [ "$#" -gt 0 ]; then exec ${IMAGE_EXECUTABLE} "$@"; fi
if [ -z "\${DATUM_CONNECT_ENDPOINT:-}" ]; then
  echo "error: DATUM_CONNECT_ENDPOINT is not set" >&2
  echo "hint: set it to the local service to expose, e.g. 127.0.0.1:8080 or http://web.default.svc.cluster.local:8080" >&2
  exit 78
fi
set -- tunnel listen --name "\${DATUM_CONNECT_TUNNEL:-${IMAGE_TUNNEL}}" --endpoint "$DATUM_CONNECT_ENDPOINT" --yes --log-format json
if [ -n "\${DATUM_CONNECT_HEALTH:-}" ]; then set -- "$@" --health "$DATUM_CONNECT_HEALTH"; fi
if [ -n "\${DATUM_CONNECT_LABEL:-}" ]; then set -- "$@" --label "$DATUM_CONNECT_LABEL"; fi
exec ${IMAGE_EXECUTABLE} "$@"
`;
}

/** Host files the root file system copies: glibc's loader and libraries, `sh`, CA certificates. */
export const HOST_LIBRARIES = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1"] as const;
export const HOST_LIB_DIR = "/lib/x86_64-linux-gnu";
export const HOST_LOADER = "/lib64/ld-linux-x86-64.so.2";
export const HOST_SH = "/bin/dash";
export const HOST_CA = "/etc/ssl/certs/ca-certificates.crt";

export interface RootfsInputs {
  readonly executable: Uint8Array;
  /** By soname. */
  readonly libraries: Readonly<Record<string, Uint8Array>>;
  readonly loader: Uint8Array;
  readonly sh: Uint8Array;
  readonly caCertificates: Uint8Array;
}

/** Every entry of the image's one layer. */
export function rootfsEntries(inputs: RootfsInputs): TarEntry[] {
  const text = (s: string) => new TextEncoder().encode(s);
  const dir = (path: string, mode = 0o755, uid = 0): TarEntry => ({ path, type: "dir", mode, uid, gid: uid });
  const file = (path: string, data: Uint8Array, mode = 0o644): TarEntry => ({ path, type: "file", mode, data });
  return [
    dir("bin"),
    dir("etc"),
    dir("etc/datumctl-connect"),
    dir("etc/ssl"),
    dir("etc/ssl/certs"),
    dir("home"),
    dir("home/datum", 0o700, IMAGE_UID),
    dir("lib"),
    dir("lib/x86_64-linux-gnu"),
    dir("lib64"),
    dir("tmp", 0o1777),
    dir("usr"),
    dir("usr/local"),
    dir("usr/local/bin"),
    file("bin/sh", inputs.sh, 0o755),
    file("etc/passwd", text(`root:x:0:0:root:/root:/sbin/nologin\n${IMAGE_USER}:x:${IMAGE_UID}:${IMAGE_UID}:datumctl-connect:${IMAGE_HOME}:/sbin/nologin\n`)),
    file("etc/group", text(`root:x:0:\n${IMAGE_USER}:x:${IMAGE_UID}:\n`)),
    file("etc/nsswitch.conf", text("passwd: files\ngroup: files\nhosts: files dns\n")),
    file("etc/ssl/certs/ca-certificates.crt", inputs.caCertificates),
    ...Object.entries(inputs.libraries).map(([soname, data]) => file(`lib/x86_64-linux-gnu/${soname}`, data, 0o755)),
    file("lib64/ld-linux-x86-64.so.2", inputs.loader, 0o755),
    file(IMAGE_EXECUTABLE.slice(1), inputs.executable, 0o755),
    file(IMAGE_ENTRYPOINT.slice(1), text(entrypointScript()), 0o755),
  ];
}

/** Why this machine cannot assemble the image (it copies glibc from a Debian-style x86-64 host), or null. */
export function imageHostProblem(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") return `the image copies glibc from a linux x64 host; this is ${process.platform} ${process.arch}`;
  const missing = [HOST_LOADER, HOST_SH, HOST_CA, ...HOST_LIBRARIES.map((l) => `${HOST_LIB_DIR}/${l}`)].filter((p) => !existsSync(p));
  return missing.length > 0 ? `missing on this machine: ${missing.join(", ")}` : null;
}

function readReal(path: string): Uint8Array {
  const real = realpathSync(path);
  if (!statSync(real).isFile()) throw new Error(`${path} is not a file`);
  return readFileSync(real);
}

export interface BuiltImage {
  readonly path: string;
  readonly size: number;
  readonly layerSize: number;
  readonly uncompressedSize: number;
  readonly manifestDigest: string;
}

/** Assemble the image around `executable` (the linux-x64 build) and write the OCI archive to `out`. */
export function buildImage(options: { executable: string; out: string; version: string; commit: string; epoch: number }): BuiltImage {
  const problem = imageHostProblem();
  if (problem) throw new Error(`cannot assemble the container image: ${problem}`);
  const libraries = Object.fromEntries(HOST_LIBRARIES.map((l) => [l, readReal(`${HOST_LIB_DIR}/${l}`)]));
  const layer = tarStream(
    rootfsEntries({
      executable: readFileSync(options.executable),
      libraries,
      loader: readReal(HOST_LOADER),
      sh: readReal(HOST_SH),
      caCertificates: readReal(HOST_CA),
    }),
    options.epoch,
  );
  const image = ociImage({ version: options.version, commit: options.commit, epoch: options.epoch, layer });
  const archive = ociArchive(image, options.epoch);
  writeFileSync(options.out, archive);
  return { path: options.out, size: archive.length, layerSize: image.layer.size, uncompressedSize: layer.length, manifestDigest: image.manifest.digest };
}
