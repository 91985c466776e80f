/**
 * Knobs of the local Datum's behaviour, changeable at start and at run time (`POST /_dev/config`).
 * Defaults are the platform's own (30 s leases, immediate controllers); tests shorten or
 * distort them to reach the platform's sharp edges (docs/wire-facts.md).
 */
import * as v from "valibot";

const Ms = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3_600_000));

export const OptionalCondition = v.picklist(["CertificatesReady", "ConnectorMetadataProgrammed"]);
export type OptionalCondition = v.InferOutput<typeof OptionalCondition>;

export const ControllerDelays = v.strictObject({
  /** Connector: Accepted, Lease creation and Ready evaluation after a change. */
  connector: Ms,
  /** HTTPProxy phases, each counted from the end of the previous one. */
  accepted: Ms,
  certificatesReady: Ms,
  programmed: Ms,
  connectorMetadataProgrammed: Ms,
  /** ConnectorAdvertisement Accepted. */
  advertisement: Ms,
  /** How long a deleted HTTPProxy lingers with its cleanup finalizer (J.11). */
  proxyCleanup: Ms,
});
export type ControllerDelays = v.InferOutput<typeof ControllerDelays>;

export const DevCloudConfig = v.strictObject({
  /** `spec.leaseDurationSeconds` of the Leases the Connector controller creates (NSO default 30). */
  leaseDurationSeconds: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(86_400)),
  /** NSO re-checks a lease up to 10 % of its duration after expiry; 0 makes the flip exact. */
  leaseExpiryJitter: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
  delays: ControllerDelays,
  /** J.12: NSO drops these conditions in some modes; a client must not wait for them forever. */
  omitConditions: v.array(OptionalCondition),
  /** J.12: `CertificatesReady=Unknown` ("Downstream cluster unavailable; …") instead of True. */
  certificatesUnknown: v.boolean(),
  /** J.1: leave HTTPProxy conditions at the generation they last observed. */
  staleGeneration: v.boolean(),
  /** J.2: bump `metadata.generation` on every main-resource PATCH, even a no-op. */
  bumpGenerationOnNoopPatch: v.boolean(),
  /** Zone of generated HTTPProxy hostnames; must stay under `.localhost` to resolve to loopback. */
  hostnameZone: v.pipe(v.string(), v.regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*localhost$/, "must end with .localhost")),
});
export type DevCloudConfig = v.InferOutput<typeof DevCloudConfig>;

export const DevCloudConfigPatch = v.strictObject({
  ...v.partial(DevCloudConfig).entries,
  delays: v.optional(v.partial(ControllerDelays)),
});
export type DevCloudConfigPatch = v.InferOutput<typeof DevCloudConfigPatch>;

export function defaultConfig(): DevCloudConfig {
  return {
    leaseDurationSeconds: 30,
    leaseExpiryJitter: 0.1,
    delays: {
      connector: 0,
      accepted: 0,
      certificatesReady: 0,
      programmed: 0,
      connectorMetadataProgrammed: 0,
      advertisement: 0,
      proxyCleanup: 0,
    },
    omitConditions: [],
    certificatesUnknown: false,
    staleGeneration: false,
    bumpGenerationOnNoopPatch: false,
    hostnameZone: "datumproxy.localhost",
  };
}

export function mergeConfig(base: DevCloudConfig, patch: DevCloudConfigPatch): DevCloudConfig {
  const { delays, ...rest } = patch;
  const next: DevCloudConfig = { ...base, ...definedOnly(rest), delays: { ...base.delays, ...definedOnly(delays ?? {}) } };
  return v.parse(DevCloudConfig, next);
}

function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, value]) => value !== undefined)) as Partial<T>;
}
