import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Exit, Malformed } from "../../../src/errors.ts";
import {
  endpointIdFromSecret,
  endpointIdViaIroh,
  endpointIdViaNodeCrypto,
  loadOrCreateIdentity,
} from "../../../src/state/identity.ts";

const dir = () => mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT!, "identity-"));

describe("endpoint id", () => {
  // RFC 8032 test vector 1: secret 9d61…7f60 → public d75a…511a.
  test("node:crypto derivation matches RFC 8032", () => {
    const secret = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
    expect(endpointIdViaNodeCrypto(secret)).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  });

  test("iroh and node:crypto agree", async () => {
    for (let i = 0; i < 8; i++) {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const viaIroh = await endpointIdViaIroh(secret);
      if (viaIroh === undefined) return; // no native iroh on this platform: nothing to compare
      expect(endpointIdViaNodeCrypto(secret)).toBe(viaIroh);
    }
  });

  test("64 lowercase hex", async () => {
    expect(await endpointIdFromSecret(new Uint8Array(32).fill(7))).toMatch(/^[0-9a-f]{64}$/);
  });

  test("wrong secret length is refused", () => {
    expect(() => endpointIdViaNodeCrypto(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe("loadOrCreateIdentity", () => {
  test("creates a 32-byte 0600 key in a 0700 dir, then reloads the same identity", async () => {
    const slot = join(dir(), "projects", "p-1");
    const first = await loadOrCreateIdentity(slot);
    const key = join(slot, "listen_key");
    expect(readFileSync(key)).toHaveLength(32);
    expect(Buffer.from(first.secretKey).equals(readFileSync(key))).toBe(true);
    if (process.platform !== "win32") {
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(statSync(slot).mode & 0o777).toBe(0o700);
    }
    const again = await loadOrCreateIdentity(slot);
    expect(again.endpointIdHex).toBe(first.endpointIdHex);
    expect(readdirSync(slot)).toEqual(["listen_key"]);
  });

  test("an existing key is used, never overwritten", async () => {
    const slot = dir();
    const secret = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
    writeFileSync(join(slot, "listen_key"), secret, { mode: 0o600 });
    const identity = await loadOrCreateIdentity(slot);
    expect(identity.endpointIdHex).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    expect(readFileSync(join(slot, "listen_key")).equals(secret)).toBe(true);
  });

  test("racing creators end up with one identity", async () => {
    const slot = dir();
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(slot)));
    expect(new Set(results.map((r) => r.endpointIdHex)).size).toBe(1);
    expect(readdirSync(slot)).toEqual(["listen_key"]);
  });

  test("a damaged key is Malformed (65) naming the file", async () => {
    const slot = dir();
    writeFileSync(join(slot, "listen_key"), Buffer.alloc(5));
    const err = await loadOrCreateIdentity(slot).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Malformed);
    expect((err as Malformed).exit).toBe(Exit.malformed);
    expect((err as Malformed).message).toContain(join(slot, "listen_key"));
  });
});
