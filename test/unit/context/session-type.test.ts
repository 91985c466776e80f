import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { DatumctlConfig } from "../../../src/context/datumctl-config.ts";
import type { Env } from "../../../src/context/resolve.ts";
import {
  probeSessionType,
  serviceAccountKeyPath,
  sessionType,
  userConfigDir,
} from "../../../src/context/session-type.ts";
import { writeServiceAccountKeyFile } from "../../../src/devcloud/datumctl-double/config-files.ts";

const SA = "ci-bot@example.iam.datum.net@api.datum.net";
const SA_KEY = "ci-bot@example.iam.datum.net@auth.datum.net";
const HUMAN = "alice@example.com@api.datum.net";
const HUMAN_KEY = "alice@example.com@auth.datum.net";

const config: DatumctlConfig = {
  sessions: [
    { name: SA, "user-key": SA_KEY },
    { name: HUMAN, "user-key": HUMAN_KEY },
    { name: "keyless@api.datum.net", "user-key": "" },
  ],
};

describe("userConfigDir (Go's os.UserConfigDir)", () => {
  test.each<[NodeJS.Platform, Env, string | undefined]>([
    ["linux", { XDG_CONFIG_HOME: "/x/cfg", HOME: "/home/u" }, "/x/cfg"],
    ["linux", { HOME: "/home/u" }, "/home/u/.config"],
    ["linux", { XDG_CONFIG_HOME: "", HOME: "/home/u" }, "/home/u/.config"],
    ["linux", { XDG_CONFIG_HOME: "relative/cfg", HOME: "/home/u" }, undefined],
    ["linux", {}, undefined],
    ["freebsd", { HOME: "/home/u" }, "/home/u/.config"],
    ["darwin", { HOME: "/Users/u", XDG_CONFIG_HOME: "/ignored" }, "/Users/u/Library/Application Support"],
    ["darwin", {}, undefined],
    ["win32", { APPDATA: "C:\\Users\\u\\AppData\\Roaming" }, "C:\\Users\\u\\AppData\\Roaming"],
    ["win32", { HOME: "C:\\Users\\u" }, undefined],
  ])("%s %p → %p", (platform, env, expected) => {
    expect(userConfigDir(env, platform)).toBe(expected as string);
  });
});

test("serviceAccountKeyPath is <UserConfigDir>/datumctl/service-accounts/<sha256(user-key)>.pem", () => {
  const digest = new Bun.CryptoHasher("sha256").update(SA_KEY).digest("hex");
  expect(serviceAccountKeyPath(SA_KEY, { XDG_CONFIG_HOME: "/cfg" }, "linux")).toBe(
    `/cfg/datumctl/service-accounts/${digest}.pem`,
  );
  expect(serviceAccountKeyPath(SA_KEY, { APPDATA: "C:\\AD" }, "win32")).toBe(
    `C:\\AD\\datumctl\\service-accounts\\${digest}.pem`,
  );
});

describe("sessionType: the key-file probe (docs/wire-facts.md#session-type), on real files", () => {
  const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT as string, "satype-"));
  const withKey = join(root, "with-key");
  const empty = join(root, "empty");
  writeServiceAccountKeyFile(withKey, SA_KEY);
  mkdirSync(empty, { recursive: true });
  // A directory where the key file would be is not a key file.
  const dirAsKey = join(root, "dir-as-key");
  mkdirSync(serviceAccountKeyPath(SA_KEY, { XDG_CONFIG_HOME: dirAsKey }, "linux") as string, { recursive: true });

  test.each<[string, DatumctlConfig | undefined, string, Env, string, RegExp]>([
    ["SA with its key file", config, SA, { XDG_CONFIG_HOME: withKey }, "service_account", /key file exists/],
    ["interactive session", config, HUMAN, { XDG_CONFIG_HOME: withKey }, "interactive", /no service-account key file/],
    ["SA whose key file is gone (or pre-v0.13.2 inline key)", config, SA, { XDG_CONFIG_HOME: empty }, "interactive", /no service-account key file/],
    ["a directory in place of the key", config, SA, { XDG_CONFIG_HOME: dirAsKey }, "interactive", /no service-account key file/],
    ["key file present but session logged out of the config", { sessions: [] }, SA, { XDG_CONFIG_HOME: withKey }, "unknown", /no session named/],
    ["no config", undefined, SA, { XDG_CONFIG_HOME: withKey }, "unknown", /no datumctl config/],
    ["session without a user key", config, "keyless@api.datum.net", { XDG_CONFIG_HOME: withKey }, "unknown", /has no user key/],
    ["config dir unresolvable", config, SA, { XDG_CONFIG_HOME: "relative" }, "unknown", /cannot locate/],
  ])("%s → %s", (_name, cfg, session, env, type, reason) => {
    const probe = probeSessionType(cfg, session, env, { platform: "linux" });
    expect(probe.type).toBe(type as never);
    expect(probe.reason).toMatch(reason);
  });

  test("sessionType() uses the given env on this platform", () => {
    if (process.platform !== "linux") return;
    expect(sessionType(config, SA, { XDG_CONFIG_HOME: withKey, HOME: "/nowhere" })).toBe("service_account");
    expect(sessionType(config, SA, { HOME: root })).toBe("interactive");
  });
});
