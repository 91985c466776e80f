import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  entrypointScript,
  IMAGE_ENTRYPOINT,
  IMAGE_EXECUTABLE,
  IMAGE_HELPER,
  IMAGE_UID,
  imageRuntimeConfig,
  ociArchive,
  ociImage,
  rootfsEntries,
  sha256Hex,
  tarStream,
  type TarEntry,
} from "../../../scripts/release/oci-image.ts";

interface Parsed {
  path: string;
  type: string;
  mode: number;
  uid: number;
  mtime: number;
  data: Buffer;
}

/** A minimal ustar reader, independent of the writer: names, types, modes, owners, contents. */
function untar(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.subarray(a, a + n).toString("utf8").replace(/\0.*$/s, "");
    const num = (a: number, n: number) => Number.parseInt(str(a, n).trim() || "0", 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
    expect(num(148, 8)).toBe(sum);
    expect(str(257, 6)).toBe("ustar");
    const prefix = str(345, 155);
    const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    const size = num(124, 12);
    out.push({ path: name, type: str(156, 1), mode: num(100, 8), uid: num(108, 8), mtime: num(136, 12), data: buf.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe("tarStream", () => {
  test("sorted ustar entries with one time, modes, owners and contents; long paths split into prefix", () => {
    const long = `${"d".repeat(80)}/${"e".repeat(60)}`;
    const entries: TarEntry[] = [
      { path: "z.txt", type: "file", mode: 0o644, data: bytes("last") },
      { path: "a", type: "dir", mode: 0o1777 },
      { path: "a/x", type: "file", mode: 0o755, uid: 7, gid: 7, data: new Uint8Array(513) },
      { path: long, type: "file", mode: 0o600, data: bytes("deep") },
    ];
    const buf = tarStream(entries, 1_700_000_000);
    expect(buf.length % 512).toBe(0);
    const parsed = untar(buf);
    expect(parsed.map((p) => [p.path, p.type, p.mode, p.uid])).toEqual([
      ["a/", "5", 0o1777, 0],
      ["a/x", "0", 0o755, 7],
      [long, "0", 0o600, 0],
      ["z.txt", "0", 0o644, 0],
    ]);
    expect(parsed.every((p) => p.mtime === 1_700_000_000)).toBe(true);
    expect(parsed[1]?.data.length).toBe(513);
    expect(parsed[3]?.data.toString()).toBe("last");
    // The same inputs give the same bytes.
    expect(sha256Hex(tarStream([...entries].reverse(), 1_700_000_000))).toBe(sha256Hex(buf));
  });

  test("a name that cannot be split is refused", () => {
    expect(() => tarStream([{ path: "x".repeat(120), type: "file", mode: 0o644, data: bytes("") }], 0)).toThrow(/too long/);
  });
});

describe("the image", () => {
  const inputs = {
    executable: bytes("EXE"),
    libraries: { "libc.so.6": bytes("LIBC") },
    loader: bytes("LD"),
    sh: bytes("SH"),
    caCertificates: bytes("CA"),
  };

  test("rootfs: the executable, entrypoint, loader, libraries, sh, CA file, a non-root user with a private home, /tmp sticky", () => {
    const files = untar(tarStream(rootfsEntries(inputs), 0));
    const by = new Map(files.map((f) => [f.path, f]));
    expect(by.get(IMAGE_EXECUTABLE.slice(1))?.data.toString()).toBe("EXE");
    expect(by.get(IMAGE_EXECUTABLE.slice(1))?.mode).toBe(0o755);
    expect(by.get(IMAGE_ENTRYPOINT.slice(1))?.data.toString()).toBe(entrypointScript());
    expect(by.get("lib64/ld-linux-x86-64.so.2")?.data.toString()).toBe("LD");
    expect(by.get("lib/x86_64-linux-gnu/libc.so.6")?.data.toString()).toBe("LIBC");
    expect(by.get("bin/sh")?.data.toString()).toBe("SH");
    expect(by.get("etc/ssl/certs/ca-certificates.crt")?.data.toString()).toBe("CA");
    expect(by.get("etc/passwd")?.data.toString()).toContain(`datum:x:${IMAGE_UID}:${IMAGE_UID}:`);
    expect(by.get("home/datum/")).toMatchObject({ uid: IMAGE_UID, mode: 0o700 });
    expect(by.get("tmp/")?.mode).toBe(0o1777);
    expect(by.has("etc/datumctl-connect/")).toBe(true);
  });

  test("runtime config: non-root, the entrypoint, SIGTERM, the helper path and no secret in the environment", () => {
    const c = imageRuntimeConfig() as { User: string; Env: string[]; Entrypoint: string[]; StopSignal: string };
    expect(c.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(c.Entrypoint).toEqual([IMAGE_ENTRYPOINT]);
    expect(c.StopSignal).toBe("SIGTERM");
    expect(c.Env).toContain(`DATUM_CREDENTIALS_HELPER=${IMAGE_HELPER}`);
    expect(c.Env.filter((e) => /TOKEN|SECRET|KEY|PASSWORD/i.test(e.split("=")[0] ?? ""))).toEqual([]);
  });

  test("OCI archive: oci-layout, index → manifest → config and layer, every digest and size right", () => {
    const layer = tarStream(rootfsEntries(inputs), 1_700_000_000);
    const image = ociImage({ version: "9.9.9", commit: "abc1234", epoch: 1_700_000_000, layer });
    const files = new Map(untar(ociArchive(image, 1_700_000_000)).map((f) => [f.path, f.data]));
    expect(JSON.parse(files.get("oci-layout")?.toString() ?? "")).toEqual({ imageLayoutVersion: "1.0.0" });
    const blobOf = (digest: string) => {
      const data = files.get(`blobs/sha256/${digest.slice(7)}`);
      if (!data) throw new Error(`no blob ${digest}`);
      expect(`sha256:${sha256Hex(data)}`).toBe(digest);
      return data;
    };
    const index = JSON.parse(files.get("index.json")?.toString() ?? "") as { manifests: { digest: string; size: number; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    const entry = index.manifests[0] as (typeof index.manifests)[0];
    expect(entry.annotations["org.opencontainers.image.ref.name"]).toBe("datumctl-connect:9.9.9");
    const manifestBytes = blobOf(entry.digest);
    expect(manifestBytes.length).toBe(entry.size);
    const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number; mediaType: string }[] };
    const config = JSON.parse(blobOf(manifest.config.digest).toString()) as { created: string; rootfs: { diff_ids: string[] }; config: { Labels: Record<string, string> } };
    expect(config.created).toBe(new Date(1_700_000_000_000).toISOString());
    expect(config.config.Labels["org.opencontainers.image.version"]).toBe("9.9.9");
    expect(manifest.layers[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    const gz = blobOf(manifest.layers[0]?.digest ?? "");
    expect(gz.length).toBe(manifest.layers[0]?.size as number);
    expect(config.rootfs.diff_ids).toEqual([`sha256:${sha256Hex(gunzipSync(gz))}`]);
    expect(Buffer.compare(gunzipSync(gz), layer)).toBe(0);
  });

  test("the entrypoint script: without DATUM_CONNECT_ENDPOINT it says so (78); with it, exec tunnel listen with JSON logs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "entrypoint-"));
    try {
      // The script with the executable replaced by one that prints its argv.
      const fake = join(dir, "exe");
      writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n', { mode: 0o755 });
      const script = join(dir, "entry");
      writeFileSync(script, entrypointScript().replaceAll(IMAGE_EXECUTABLE, fake), { mode: 0o755 });
      const run = (env: Record<string, string>, args: string[] = []) => {
        const r = Bun.spawnSync(["/bin/sh", script, ...args], { env: { PATH: "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
        return { code: r.exitCode, out: r.stdout.toString().trim().split("\n"), err: r.stderr.toString() };
      };
      const missing = run({});
      expect(missing.code).toBe(78);
      expect(missing.err).toMatch(/^error: DATUM_CONNECT_ENDPOINT is not set\nhint: /);
      const ok = run({ DATUM_CONNECT_ENDPOINT: "127.0.0.1:8080", DATUM_CONNECT_TUNNEL: "web", DATUM_CONNECT_HEALTH: "0.0.0.0:9090" });
      expect(ok.code).toBe(0);
      expect(ok.out).toEqual(["tunnel", "listen", "--name", "web", "--endpoint", "127.0.0.1:8080", "--yes", "--log-format", "json", "--health", "0.0.0.0:9090"]);
      // Arguments replace the default command (e.g. `tunnel status --name web --probe`).
      expect(run({}, ["version"]).out).toEqual(["version"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
