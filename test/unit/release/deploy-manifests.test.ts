/**
 * deploy/kubernetes/datumctl-connect.yaml agrees with the image it runs (scripts/release/oci-image.ts)
 * and with the agent: probes on the health port's /livez and /readyz, non-root as the image's user,
 * the key as a Secret volume, the helper where the image looks for it, an endpoint the agent accepts,
 * and no secret in any environment variable.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { IMAGE_HEALTH_PORT, IMAGE_HELPER, IMAGE_HOME, IMAGE_UID } from "../../../scripts/release/oci-image.ts";
import { validateEndpoint } from "../../../src/tunnel/endpoint.ts";

interface EnvVar {
  name: string;
  value?: string;
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment {
  kind: string;
  spec: {
    replicas: number;
    template: {
      spec: {
        securityContext: { runAsNonRoot: boolean; runAsUser: number; runAsGroup: number };
        automountServiceAccountToken: boolean;
        initContainers: Container[];
        containers: Container[];
        volumes: { name: string; secret?: { secretName: string }; emptyDir?: object; persistentVolumeClaim?: { claimName: string } }[];
      };
    };
  };
}

const path = join(import.meta.dir, "..", "..", "..", "deploy", "kubernetes", "datumctl-connect.yaml");
const docs = Bun.YAML.parse(readFileSync(path, "utf8")) as { kind: string; metadata: { name: string } }[];
const doc = docs.find((d) => d.kind === "Deployment") as unknown as Deployment;
const pod = doc.spec.template.spec;
const agent = pod.containers.find((c) => c.name === "datumctl-connect") as Container;
const env = Object.fromEntries((agent.env ?? []).map((e) => [e.name, e.value]));

describe("deploy/kubernetes/datumctl-connect.yaml", () => {
  test("one replica of a Deployment, non-root as the image's user, no service-account token mounted", () => {
    expect(doc.kind).toBe("Deployment");
    expect(doc.spec.replicas).toBe(1);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: IMAGE_UID, runAsGroup: IMAGE_UID });
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    }
  });

  test("liveness on /livez and readiness on /readyz, on the port the agent's health endpoint listens on", () => {
    const port = agent.ports?.find((p) => p.name === "health");
    expect(port?.containerPort).toBe(IMAGE_HEALTH_PORT);
    expect(agent.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "health" });
    expect(agent.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "health" });
    expect(env.DATUM_CONNECT_HEALTH).toBe(`0.0.0.0:${IMAGE_HEALTH_PORT}`);
  });

  test("the key is a Secret volume; the helper is where the image looks; state on a writable HOME", () => {
    const key = pod.volumes.find((v) => v.secret);
    expect(key?.secret?.secretName).toBe("datumctl-connect-key");
    const login = pod.initContainers[0] as Container;
    expect(login.volumeMounts?.find((m) => m.name === key?.name)?.readOnly).toBe(true);
    expect(env.DATUM_CREDENTIALS_HELPER).toBe(IMAGE_HELPER);
    expect(agent.volumeMounts?.find((m) => m.mountPath === dirname(IMAGE_HELPER))?.name).toBe("helper");
    expect(agent.volumeMounts?.find((m) => m.mountPath === IMAGE_HOME)?.name).toBe("home");
    // The tunnel's identity must outlive the pod, or each new pod makes a new tunnel.
    const claim = pod.volumes.find((v) => v.name === "home")?.persistentVolumeClaim?.claimName;
    expect(docs.some((d) => d.kind === "PersistentVolumeClaim" && d.metadata.name === claim)).toBe(true);
    expect(agent.volumeMounts?.some((m) => m.mountPath === "/tmp")).toBe(true);
  });

  test("an endpoint the agent accepts, and no secret in any environment variable", () => {
    expect(() => validateEndpoint(env.DATUM_CONNECT_ENDPOINT as string)).not.toThrow();
    for (const c of [...pod.initContainers, ...pod.containers]) {
      for (const e of c.env ?? []) {
        expect(e.name).not.toMatch(/TOKEN|SECRET|PASSWORD|KEY/i);
        expect(e.value ?? "").not.toMatch(/eyJ|BEGIN .*PRIVATE KEY/);
      }
    }
  });
});
