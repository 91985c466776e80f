/**
 * src/dataplane/native-module.ts: which cache entries and directories are trusted (a table), and
 * the cache itself on real files, with iroh's real `.node` from node_modules standing in for the
 * embedded copy (test/e2e/compiled.test.ts covers the executable).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  cachedNativePath,
  ensureCachedNative,
  lastNativeLoad,
  loadEmbeddedNative,
  untrustedDir,
  untrustedEntry,
  type EmbeddedNative,
} from "../../src/dataplane/native-module.ts";
import { nativeCacheDir } from "../../src/state/paths.ts";

const work = mkdtempSync(join(tmpdir(), "native-module-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const UID = process.getuid?.() ?? 0;

function fakeStat(o: { file?: boolean; dir?: boolean; uid?: number; mode?: number; size?: number }) {
  return { isFile: () => o.file ?? false, isDirectory: () => o.dir ?? false, uid: o.uid ?? 1000, mode: o.mode ?? 0, size: o.size ?? 0 };
}

describe("trust rules", () => {
  test.each([
    ["ours, 0500, right size", { file: true, uid: 1000, mode: 0o100500, size: 10 }, undefined],
    ["ours, 0600, right size", { file: true, uid: 1000, mode: 0o100600, size: 10 }, undefined],
    ["group-writable", { file: true, uid: 1000, mode: 0o100520, size: 10 }, "writable by others"],
    ["world-writable", { file: true, uid: 1000, mode: 0o100502, size: 10 }, "writable by others"],
    ["someone else's", { file: true, uid: 0, mode: 0o100500, size: 10 }, "owned by uid 0"],
    ["truncated", { file: true, uid: 1000, mode: 0o100500, size: 9 }, "9 bytes, expected 10"],
    ["a symlink or directory", { file: false, uid: 1000, mode: 0o120777, size: 10 }, "not a regular file"],
  ])("entry: %s", (_label, stat, expected) => {
    expect(untrustedEntry(fakeStat(stat), 1000, 10)).toBe(expected);
  });

  test.each([
    ["ours, 0700", { dir: true, uid: 1000, mode: 0o40700 }, undefined],
    ["ours, 0755", { dir: true, uid: 1000, mode: 0o40755 }, undefined],
    ["world-writable (/tmp-like)", { dir: true, uid: 1000, mode: 0o41777 }, "writable by others"],
    ["someone else's", { dir: true, uid: 0, mode: 0o40700 }, "owned by uid 0"],
    ["a file", { file: true, uid: 1000, mode: 0o100700 }, "not a directory"],
  ])("directory: %s", (_label, stat, expected) => {
    expect(untrustedDir(fakeStat(stat), 1000)).toBe(expected);
  });

  test.each([
    [{ DATUM_CONNECT_NATIVE_DIR: "/opt/native" }, "/opt/native"],
    [{ DATUM_CONNECT_DIR: "/srv/connect" }, "/srv/connect/native"],
    [{ DATUM_CONNECT_DIR: "/srv/connect", DATUM_CONNECT_NATIVE_DIR: "  " }, "/srv/connect/native"],
  ])("cache directory for %p", (env, expected) => {
    expect(nativeCacheDir(env)).toBe(expected);
  });
});

/** A stand-in for an embedded module: any file, with its real hash and size. */
function embedded(path: string): EmbeddedNative {
  const bytes = readFileSync(path);
  return { path, name: "fake", sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), size: bytes.byteLength };
}

describe("ensureCachedNative on real files", () => {
  const source = join(work, "fake.node");
  writeFileSync(source, "not really a shared object, but bytes to cache\n");
  const native = embedded(source);

  test("writes once (0500 in a 0700 directory), then reuses the same file", async () => {
    const dir = join(work, "cache-a", "native");
    const first = await ensureCachedNative(native, dir);
    expect(first).toEqual({ path: cachedNativePath(dir, native), written: true });
    expect(first.path).toEndWith(`fake-${native.sha256.slice(0, 16)}.node`);
    expect(readFileSync(first.path, "utf8")).toBe(readFileSync(source, "utf8"));
    expect(statSync(first.path).mode & 0o777).toBe(0o500);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const ino = statSync(first.path).ino;
    const again = await ensureCachedNative(native, dir);
    expect(again.written).toBe(false);
    expect(statSync(again.path).ino).toBe(ino);
    expect(readdirSync(dir)).toEqual([`fake-${native.sha256.slice(0, 16)}.node`]); // no temp files left
  });

  test.each([
    ["writable by others", (p: string) => chmodSync(p, 0o666)],
    ["truncated", (p: string) => (chmodSync(p, 0o600), writeFileSync(p, "short"))],
  ])("an entry that is %s is written again", async (_label, spoil) => {
    const dir = join(work, `cache-${Math.random().toString(36).slice(2)}`);
    const { path } = await ensureCachedNative(native, dir);
    spoil(path);
    const again = await ensureCachedNative(native, dir);
    expect(again.written).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(readFileSync(source, "utf8"));
    expect(statSync(path).mode & 0o777).toBe(0o500);
  });

  test("a new version's module replaces the older one's copy; unrelated files stay", async () => {
    const dir = join(work, "cache-upgrade");
    const old = await ensureCachedNative(native, dir);
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    const newer = join(work, "fake-newer.node");
    writeFileSync(newer, "the next release's bytes\n");
    const next = await ensureCachedNative(embedded(newer), dir);
    expect(next.path).not.toBe(old.path);
    expect(readdirSync(dir).sort()).toEqual([next.path.slice(dir.length + 1), "notes.txt"].sort());
  });

  test("embedded bytes that do not match the build's hash are not cached", async () => {
    const dir = join(work, "cache-bad-hash");
    const wrong = { ...native, sha256: "0".repeat(64) };
    await expect(ensureCachedNative(wrong, dir)).rejects.toThrow(/embedded fake module: sha256 [0-9a-f]{64} .* expected 0{64}/);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a directory writable by others, or someone else's, is refused", async () => {
    const open = join(work, "cache-open");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    await expect(ensureCachedNative(native, open)).rejects.toThrow("writable by others");
    const dir = join(work, "cache-foreign");
    await expect(ensureCachedNative(native, dir, UID + 1)).rejects.toThrow(`owned by uid ${UID}`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("loadEmbeddedNative with iroh's real module", () => {
  // The platform package's .node, found the way iroh's own index.js would.
  const require = createRequire(import.meta.url);
  const irohDir = dirname(require.resolve("@number0/iroh/package.json"));
  const candidates = readdirSync(join(irohDir, "..")).filter((d) => d.startsWith("iroh-"));
  const nodeFile = candidates
    .map((d) => join(irohDir, "..", d))
    .flatMap((d) => readdirSync(d).filter((f) => f.endsWith(".node")).map((f) => join(d, f)))[0];

  test.skipIf(nodeFile === undefined)("loads from the cache: the exports are iroh's", async () => {
    const native = { ...embedded(nodeFile as string), name: "iroh" };
    const dir = join(work, "iroh-cache");
    const exports = await loadEmbeddedNative(native, { DATUM_CONNECT_NATIVE_DIR: dir });
    expect(lastNativeLoad).toEqual({ via: "cache", path: cachedNativePath(dir, native) });
    expect(typeof exports.Endpoint).toBe("function");
    expect(typeof exports.presetMinimal).toBe("function");
  });

  test.skipIf(nodeFile === undefined)("an unusable cache directory falls back to Bun's own loading, with the reason", async () => {
    const native = { ...embedded(nodeFile as string), name: "iroh" };
    const notADir = join(work, "a-file");
    writeFileSync(notADir, "");
    const exports = await loadEmbeddedNative(native, { DATUM_CONNECT_NATIVE_DIR: notADir });
    expect(lastNativeLoad?.via).toBe("bun");
    expect(lastNativeLoad?.reason).toMatch(/EEXIST|ENOTDIR|not a directory/);
    expect(typeof exports.Endpoint).toBe("function");
  });

  if (nodeFile === undefined) console.log("native-module: no @number0/iroh platform package installed here; the two iroh load tests are skipped");
});
