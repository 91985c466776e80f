import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, tempPathFor, writeFileAtomic } from "../../../src/state/atomic-write.ts";

const root = () => mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT!, "atomic-"));
const mode = (path: string) => statSync(path).mode & 0o777;
const posix = process.platform !== "win32";

describe("writeFileAtomic", () => {
  test("creates parents 0700 and the file 0600", async () => {
    const dir = join(root(), "a", "b");
    const file = join(dir, "state.yml");
    await writeFileAtomic(file, "hello");
    expect(readFileSync(file, "utf8")).toBe("hello");
    if (posix) {
      expect(mode(file)).toBe(0o600);
      expect(mode(dir)).toBe(0o700);
      expect(mode(join(dir, ".."))).toBe(0o700);
    }
  });

  test("into someone else's directory (privateDir: false): the file is still private, the directory keeps its mode", async () => {
    const shared = join(root(), "shared");
    mkdirSync(shared, { mode: 0o755 });
    chmodSync(shared, 0o1777); // like /tmp
    const file = join(shared, "datum.env");
    await writeFileAtomic(file, "export A=1\n", 0o600, { privateDir: false });
    expect(readFileSync(file, "utf8")).toBe("export A=1\n");
    if (posix) {
      expect(mode(file)).toBe(0o600);
      expect(statSync(shared).mode & 0o7777).toBe(0o1777);
    }
    // A missing directory is still created, readable like the ones around it.
    const unitDir = join(root(), "etc", "systemd", "system");
    await writeFileAtomic(join(unitDir, "x.service"), "[Unit]\n", 0o644, { privateDir: false });
    if (posix) {
      expect(mode(join(unitDir, "x.service"))).toBe(0o644);
      expect(mode(unitDir)).toBe(0o755 & ~process.umask()); // as mkdir made it, not tightened to 0700
    }
  });

  test("replaces whole and leaves no temp files", async () => {
    const dir = root();
    const file = join(dir, "x.json");
    await writeFileAtomic(file, "first, longer content");
    await writeFileAtomic(file, new TextEncoder().encode("2nd"));
    expect(readFileSync(file, "utf8")).toBe("2nd");
    expect(readdirSync(dir)).toEqual(["x.json"]);
  });

  test("an explicit mode is honoured despite the umask", async () => {
    const file = join(root(), "run.json");
    await writeFileAtomic(file, "{}", 0o644);
    if (posix) expect(mode(file)).toBe(0o644);
  });

  test("a failed write cleans up its temp file and keeps the old file", async () => {
    const dir = root();
    const file = join(dir, "x");
    await writeFileAtomic(file, "old");
    // Renaming a file over a directory fails after the temp file is written.
    const blocked = join(dir, "blocked");
    await ensurePrivateDir(join(blocked, "child"));
    await expect(writeFileAtomic(blocked, "new")).rejects.toThrow();
    expect(readdirSync(dir).sort()).toEqual(["blocked", "x"]);
    expect(readFileSync(file, "utf8")).toBe("old");
  });

  test("an existing looser directory is tightened", async () => {
    const dir = join(root(), "loose");
    await ensurePrivateDir(dir);
    if (!posix) return;
    const { chmodSync } = await import("node:fs");
    chmodSync(dir, 0o755);
    await ensurePrivateDir(dir);
    expect(mode(dir)).toBe(0o700);
  });
});

test("temp names are hidden, random and beside the target", () => {
  const a = tempPathFor("/x/y/state.yml");
  const b = tempPathFor("/x/y/state.yml");
  expect(a).toMatch(/^\/x\/y\/\.state\.yml\.\d+\.tmp$/);
  expect(a).not.toBe(b);
});
