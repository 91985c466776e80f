/**
 * The device identity of one slot: a 32-byte ed25519 secret in `<dir>/listen_key`
 * (docs/wire-facts.md#local-files), and the endpoint id derived from it — the iroh public key as
 * 64 lowercase hex, the value every Connector lookup selects on.
 *
 * The key is created once and never replaced: a different key means a different Connector and a
 * different DNS record, so an existing key (even one written by another process a moment ago) always
 * wins. The endpoint id comes from `@number0/iroh` when its native module loads here, else from the
 * ed25519 implementation in `node:crypto`, which yields the same public key: management commands
 * (`list`, `update`, `delete`, …) must work on platforms that have no iroh build
 * (docs/architecture.md#distribution).
 */
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { link, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Malformed } from "../errors.ts";
import { ensurePrivateDir, FILE_MODE, isCode, syncDir, tempPathFor } from "./atomic-write.ts";
import { slotFiles } from "./paths.ts";

export const SECRET_KEY_LENGTH = 32;

export interface Identity {
  readonly secretKey: Uint8Array;
  readonly endpointIdHex: string;
}

export async function loadOrCreateIdentity(dir: string): Promise<Identity> {
  const path = slotFiles(dir).listenKey;
  await ensurePrivateDir(dir);
  const secretKey = (await readKey(path)) ?? (await createKey(path));
  return { secretKey, endpointIdHex: await endpointIdFromSecret(secretKey) };
}

/** The slot's identity if it has one; creates nothing (read-only commands, issue 18 item 10). */
export async function loadIdentity(dir: string): Promise<Identity | undefined> {
  const secretKey = await readKey(slotFiles(dir).listenKey);
  return secretKey ? { secretKey, endpointIdHex: await endpointIdFromSecret(secretKey) } : undefined;
}

async function readKey(path: string): Promise<Uint8Array | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (isCode(err, "ENOENT")) return undefined;
    throw err;
  }
  if (bytes.length !== SECRET_KEY_LENGTH) {
    throw new Malformed(
      `Identity key ${path} is ${bytes.length} bytes, expected ${SECRET_KEY_LENGTH}`,
      "the file is damaged; removing it creates a new identity (and a new Connector on the next listen)",
    );
  }
  return new Uint8Array(bytes);
}

/**
 * Write a fresh key so that it appears complete or not at all, and never over an existing one:
 * the bytes go to a synced temp file which is then hard-linked to the final name (link fails with
 * EEXIST instead of replacing, unlike rename). Where hard links are unsupported, an exclusive
 * create is the fallback.
 */
async function createKey(path: string): Promise<Uint8Array> {
  const key = new Uint8Array(randomBytes(SECRET_KEY_LENGTH));
  const temp = tempPathFor(path);
  try {
    await writeSynced(temp, key, "wx");
    try {
      await link(temp, path);
    } catch (err) {
      if (isCode(err, "EEXIST")) return await existingKey(path);
      if (!isCode(err, "EPERM") && !isCode(err, "ENOTSUP") && !isCode(err, "EXDEV")) throw err;
      try {
        await writeSynced(path, key, "wx");
      } catch (createErr) {
        if (isCode(createErr, "EEXIST")) return await existingKey(path);
        throw createErr;
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
  await syncDir(dirname(path));
  return key;
}

/** Another process created the key between our read and our create: theirs is the identity. */
async function existingKey(path: string): Promise<Uint8Array> {
  const key = await readKey(path);
  if (!key) throw new Error(`listen_key ${path} vanished while being created`);
  return key;
}

async function writeSynced(path: string, data: Uint8Array, flags: string): Promise<void> {
  const handle = await open(path, flags, FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// ---------- endpoint id ----------

/**
 * The endpoint id (ed25519 public key, hex) via `node:crypto`. Management commands must not load
 * iroh's 20 MB native module on the main thread; `test/unit/state/identity.test.ts` holds this
 * equal to iroh's own derivation (`endpointIdViaIroh`).
 */
export async function endpointIdFromSecret(secretKey: Uint8Array): Promise<string> {
  return endpointIdViaNodeCrypto(secretKey);
}

/** `undefined` when `@number0/iroh` has no native build for this platform. */
export async function endpointIdViaIroh(secretKey: Uint8Array): Promise<string | undefined> {
  let iroh: typeof import("@number0/iroh");
  try {
    // Imported lazily: loading the native module must not be a precondition for management commands.
    iroh = await import("@number0/iroh");
  } catch {
    return undefined;
  }
  return iroh.SecretKey.fromBytes(Array.from(secretKey)).public().toString();
}

/** RFC 8410 PKCS#8 prefix for a raw 32-byte Ed25519 seed. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function endpointIdViaNodeCrypto(secretKey: Uint8Array): string {
  if (secretKey.length !== SECRET_KEY_LENGTH) throw new RangeError(`ed25519 secret must be ${SECRET_KEY_LENGTH} bytes`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, secretKey]),
    format: "der",
    type: "pkcs8",
  });
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("ed25519 public key export returned no key");
  return Buffer.from(jwk.x, "base64url").toString("hex");
}
