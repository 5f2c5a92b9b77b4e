import { describe, expect, it } from "vitest";
import { type GatewayConfigInput, parseConfig } from "../../config/schema.ts";
import type { ConfigIssue, ConfigValidationOptions, DeploymentFacts } from "../config/fields.ts";
import { compileCluster } from "./config.ts";

type ClusterInput = GatewayConfigInput["clusters"][string];

const strict: ConfigValidationOptions = { allowPrivateUpstreams: false };
const dev: ConfigValidationOptions = { allowPrivateUpstreams: true };

/** A deployment with an mTLS certificate binding, a service binding, a secret and a KV namespace. */
const deployment: DeploymentFacts = {
  bindings: new Set(["ORIGIN_CERT", "AUTH_SERVICE", "ADMIN_TOKEN", "CONFIG"]),
  fetchers: new Set(["ORIGIN_CERT", "AUTH_SERVICE"]),
  customPolicies: new Map(),
};

function withCluster(cluster: ClusterInput, name = "payments"): GatewayConfigInput {
  return { clusters: { [name]: cluster }, routes: [{ id: "pay", match: { path: "/pay/*" }, cluster: name }] };
}

function issuesOf(input: GatewayConfigInput, options: ConfigValidationOptions): ConfigIssue[] {
  const result = parseConfig(input, options);
  return result.ok ? [] : result.issues;
}

const secure = (mtlsCertificate: unknown, urls = ["https://payments.example.com"]) =>
  ({ targets: urls.map((url) => ({ url })), mtlsCertificate }) as ClusterInput;

describe("cluster config: mtlsCertificate", () => {
  it("compiles to the binding every attempt goes through, and to null without one", () => {
    const parsed = parseConfig(withCluster(secure("ORIGIN_CERT")), { ...strict, deployment });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(compileCluster("payments", parsed.config.clusters.payments as never).mtlsBinding).toBe("ORIGIN_CERT");
    const plain = parseConfig(withCluster({ targets: [{ url: "https://payments.example.com" }] }), strict);
    expect(plain.ok && compileCluster("payments", plain.config.clusters.payments as never).mtlsBinding).toBeNull();
  });

  it("takes only a binding name", () => {
    for (const bad of ["", "origin-cert", "1CERT", "ORIGIN CERT", "cert.pem"]) {
      expect(issuesOf(withCluster(secure(bad)), strict)).toEqual([
        {
          path: "clusters.payments.mtlsCertificate",
          message: "must be a binding name: letters, digits and '_', not starting with a digit",
        },
      ]);
    }
    expect(issuesOf(withCluster(secure(42)), strict)).toEqual([{ path: "clusters.payments.mtlsCertificate", message: "must be a string" }]);
  });

  it("refuses, where the deployment is known, a binding it lacks or one that cannot send requests", () => {
    const known = { ...strict, deployment };
    expect(issuesOf(withCluster(secure("ORIGIN_CRET")), known)).toEqual([
      { path: "clusters.payments.mtlsCertificate", message: "names the binding 'ORIGIN_CRET', which this deployment does not have" },
    ]);
    for (const other of ["ADMIN_TOKEN", "CONFIG"]) {
      expect(issuesOf(withCluster(secure(other)), known)).toEqual([
        {
          path: "clusters.payments.mtlsCertificate",
          message: `names the binding '${other}', which cannot send requests: it must be an mTLS certificate binding (mtls_certificates)`,
        },
      ]);
    }
    // The field path of a cluster whose name is not an identifier, as every other path names it.
    expect(issuesOf(withCluster(secure("NOPE"), "pay-v2"), known)).toEqual([
      { path: 'clusters["pay-v2"].mtlsCertificate', message: "names the binding 'NOPE', which this deployment does not have" },
    ]);
    // A service binding is a Fetcher too: the deployment cannot tell it from a certificate binding.
    expect(issuesOf(withCluster(secure("AUTH_SERVICE")), known)).toEqual([]);
  });

  it("leaves the binding unchecked where the deployment is not known (the CLI, offline)", () => {
    expect(issuesOf(withCluster(secure("ANY_NAME")), strict)).toEqual([]);
  });

  it("refuses every plain http target of a cluster with a certificate, unless private upstreams are allowed (development)", () => {
    const mixed = secure("ORIGIN_CERT", ["http://a.example.com", "https://b.example.com", "HTTP://c.example.com/v1"]);
    const message =
      "must use https: the cluster presents a client certificate (mtlsCertificate), which only a TLS connection carries (http only with ALLOW_PRIVATE_UPSTREAMS=true, for development)";
    expect(issuesOf(withCluster(mixed), { ...strict, deployment })).toEqual([
      { path: "clusters.payments.targets[0].url", message },
      { path: "clusters.payments.targets[2].url", message },
    ]);
    expect(issuesOf(withCluster(mixed), { ...dev, deployment })).toEqual([]);
    // Without a certificate, http stays what it was.
    expect(issuesOf(withCluster({ targets: [{ url: "http://a.example.com" }] }), strict)).toEqual([]);
  });
});
