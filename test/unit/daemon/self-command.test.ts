import { expect, test } from "bun:test";
import { isCompiledUrl } from "../../../src/daemon/self-command.ts";

test.each([
  ["file:///$bunfs/root/datumctl-connect", true],
  // Windows: the module path is B:\~BUN\root\…, its URL percent-encodes the tilde (seen under Wine).
  ["file:///B:/%7EBUN/root/datumctl-connect.exe", true],
  ["file:///B:/~BUN/root/datumctl-connect.exe", true],
  ["file:///work/main/src/daemon/self-command.ts", false],
  ["file:///C:/src/daemon/self-command.ts", false],
])("%s → compiled %p", (url, compiled) => {
  expect(isCompiledUrl(url)).toBe(compiled);
});
