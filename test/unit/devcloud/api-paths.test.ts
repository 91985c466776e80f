import { describe, expect, test } from "bun:test";
import { projectControlPlaneUrl } from "../../../src/controlplane/kinds.ts";
import { namespaceExists, parseApiPath, splitProjectPath } from "../../../src/devcloud/api-paths.ts";
import { compareKubeVersions, groupList, resourceList } from "../../../src/devcloud/discovery.ts";

function describePath(rest: string): string {
  const p = parseApiPath(rest);
  switch (p.type) {
    case "collection":
      return `collection ${p.resource.plural} ns=${p.namespace ?? "-"}`;
    case "object":
      return `object ${p.resource.plural} ns=${p.namespace ?? "-"} ${p.name}${p.subresource ? "/status" : ""}`;
    case "group":
      return `group ${p.group}`;
    case "groupVersion":
      return `groupVersion ${p.group}/${p.version}`;
    case "namespaces":
      return `namespaces ${p.name ?? "-"}`;
    default:
      return p.type;
  }
}

describe("splitProjectPath", () => {
  test("takes the project and the rest from a control-plane URL", () => {
    const base = new URL(projectControlPlaneUrl("http://127.0.0.1:1", "p-123")).pathname;
    expect(splitProjectPath(`${base}/apis/x`)).toEqual({ project: "p-123", rest: "/apis/x" });
    expect(splitProjectPath(base)).toEqual({ project: "p-123", rest: "/" });
  });
  test.each(["/apis/networking.datumapis.com/v1alpha1", "/apis/resourcemanager.miloapis.com/v1alpha1/projects//control-plane/x", "/version"])(
    "%p is not a project path",
    (path) => {
      expect(splitProjectPath(path)).toBeUndefined();
    },
  );
});

describe("parseApiPath", () => {
  test.each([
    ["/version", "version"],
    ["/api", "coreVersions"],
    ["/api/v1", "coreResources"],
    ["/api/v1/namespaces", "namespaces -"],
    ["/api/v1/namespaces/default", "namespaces default"],
    ["/api/v2", "unknown"],
    ["/apis", "groups"],
    ["/apis/", "groups"],
    ["/apis/networking.datumapis.com", "group networking.datumapis.com"],
    ["/apis/networking.datumapis.com/v1alpha", "groupVersion networking.datumapis.com/v1alpha"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors", "collection connectors ns=default"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors/c-1", "object connectors ns=default c-1"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors/c-1/status", "object connectors ns=default c-1/status"],
    ["/apis/networking.datumapis.com/v1alpha/namespaces/default/httpproxies/tunnel-abcde", "object httpproxies ns=default tunnel-abcde"],
    ["/apis/coordination.k8s.io/v1/namespaces/default/leases/x", "object leases ns=default x"],
    ["/apis/coordination.k8s.io/v1/namespaces/default/leases/x/status", "unknown"],
    ["/apis/networking.datumapis.com/v1alpha1/connectorclasses", "collection connectorclasses ns=-"],
    ["/apis/networking.datumapis.com/v1alpha1/connectorclasses/datum-connect", "object connectorclasses ns=- datum-connect"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectorclasses", "unknown"],
    ["/apis/networking.datumapis.com/v1alpha1/connectors", "collection connectors ns=-"],
    ["/apis/networking.datumapis.com/v1alpha1/connectors/c-1", "unknown"],
    // HTTPProxy is v1alpha, never v1alpha1 (J.19).
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/httpproxies", "unknown"],
    ["/apis/networking.datumapis.com/v1alpha/namespaces/default/httpproxies/a/b", "unknown"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors/c-1/status/x", "unknown"],
    ["/openapi/v2", "unknown"],
    ["/openapi/v3", "unknown"],
    ["/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors/%E0%A4%A", "unknown"],
  ])("%s → %s", (rest, expected) => {
    expect(describePath(rest)).toBe(expected);
  });

  test("only the default namespace exists", () => {
    expect(namespaceExists("default")).toBe(true);
    expect(namespaceExists(undefined)).toBe(true);
    expect(namespaceExists("kube-system")).toBe(false);
  });
});

describe("discovery", () => {
  test.each([
    [["v1alpha", "v1alpha1"], ["v1alpha1", "v1alpha"]],
    [["v1beta1", "v1", "v1alpha1", "v2"], ["v2", "v1", "v1beta1", "v1alpha1"]],
    [["v1alpha2", "v1alpha10"], ["v1alpha10", "v1alpha2"]],
  ])("kube version order %j", (input, expected) => {
    expect([...input].sort(compareKubeVersions)).toEqual(expected);
  });

  test("the networking group serves v1alpha1 (preferred) and v1alpha", () => {
    const groups = groupList().groups as Array<{ name: string; versions: Array<{ version: string }>; preferredVersion: { version: string } }>;
    const networking = groups.find((g) => g.name === "networking.datumapis.com");
    expect(networking?.versions.map((v) => v.version)).toEqual(["v1alpha1", "v1alpha"]);
    expect(networking?.preferredVersion.version).toBe("v1alpha1");
    expect(groups.map((g) => g.name)).toContain("coordination.k8s.io");
  });

  test("resource lists name each kind and its status subresource", () => {
    const list = resourceList("networking.datumapis.com", "v1alpha");
    const names = (list?.resources as Array<{ name: string }>).map((r) => r.name);
    expect(names).toEqual(["httpproxies", "httpproxies/status", "trafficprotectionpolicies", "trafficprotectionpolicies/status"]);
    expect(resourceList("networking.datumapis.com", "v2")).toBeUndefined();
  });
});
