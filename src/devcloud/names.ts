/**
 * Names the local Datum makes up: `generateName` suffixes, HTTPProxy hostnames, and the object-name
 * rule the API server enforces. Randomness is passed in so tests can pin it.
 */

export type Random = () => number;

/** The API server's suffix alphabet: no vowels (no accidental words), no look-alike 0/1/3. */
const SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const SUFFIX_LENGTH = 5;
/** `generateName` prefixes are cut so the result still fits a 63-character label. */
const MAX_GENERATE_PREFIX = 63 - SUFFIX_LENGTH;

export function randomSuffix(random: Random, length = SUFFIX_LENGTH): string {
  let out = "";
  for (let i = 0; i < length; i++) out += SUFFIX_ALPHABET[Math.floor(random() * SUFFIX_ALPHABET.length)] ?? "x";
  return out;
}

export function generateObjectName(prefix: string, random: Random): string {
  return prefix.slice(0, MAX_GENERATE_PREFIX) + randomSuffix(random);
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The API server's complaint about an object name, or undefined when the name is valid. */
export function objectNameProblem(name: string): string | undefined {
  if (name.length > 253) return "must be no more than 253 characters";
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return undefined;
}

const ADJECTIVES = [
  "amber", "brave", "calm", "crisp", "dapper", "eager", "fancy", "gentle", "golden", "happy",
  "icy", "jolly", "keen", "lively", "lucky", "mellow", "misty", "noble", "proud", "quiet",
  "rapid", "rustic", "shiny", "silent", "snowy", "sunny", "swift", "tidy", "vivid", "witty",
] as const;

const NOUNS = [
  "anchor", "badger", "beacon", "canyon", "cedar", "comet", "coral", "delta", "ember", "falcon",
  "fjord", "garnet", "glacier", "harbor", "island", "lagoon", "maple", "meadow", "nebula", "otter",
  "pearl", "pebble", "prairie", "quartz", "raven", "ridge", "summit", "tundra", "willow", "zephyr",
] as const;

/**
 * A hostname like production's `ground-pearl.datumproxy.net`, with a random tail so two local
 * runs never share one, under a zone that ends in `.localhost` so every resolver (curl, Bun, the
 * browser) answers loopback without any DNS setup.
 */
export function generateHostname(zone: string, random: Random): string {
  const adjective = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)] ?? "calm";
  const noun = NOUNS[Math.floor(random() * NOUNS.length)] ?? "harbor";
  return `${adjective}-${noun}-${randomSuffix(random)}.${zone}`;
}
