/**
 * The Kubernetes name checks the platform's webhook uses, with the API machinery's own messages:
 * DNS-1123 labels and subdomains, and fully qualified domain names (two labels or more).
 */
import { DNS_LABEL, DNS_SUBDOMAIN } from "./common.ts";

const LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/** Problems with `value` as a DNS-1123 label (empty when it is one). */
export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push("must be no more than 63 characters");
  if (!DNS_LABEL.test(value)) problems.push(LABEL_MESSAGE);
  return problems;
}

/** Problems with `value` as a DNS-1123 subdomain (empty when it is one). */
export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 253) problems.push("must be no more than 253 characters");
  if (!DNS_SUBDOMAIN.test(value)) problems.push(SUBDOMAIN_MESSAGE);
  return problems;
}

export type FqdnProblem = { readonly kind: "required" } | { readonly kind: "invalid"; readonly value: string; readonly detail: string };

/**
 * Why `name` is not a fully qualified domain name, or undefined. A trailing dot is allowed; the
 * rest must be a subdomain of at least two labels, each a DNS-1123 label.
 */
export function fqdnProblem(name: string): FqdnProblem | undefined {
  if (name.length === 0) return { kind: "required" };
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  const subdomain = dns1123SubdomainProblems(bare);
  if (subdomain.length > 0) return { kind: "invalid", value: bare, detail: subdomain.join(",") };
  const labels = bare.split(".");
  if (labels.length < 2) return { kind: "invalid", value: bare, detail: "should be a domain with at least two segments separated by dots" };
  for (const label of labels) {
    const problems = dns1123LabelProblems(label);
    if (problems.length > 0) return { kind: "invalid", value: label, detail: problems.join(",") };
  }
  return undefined;
}
