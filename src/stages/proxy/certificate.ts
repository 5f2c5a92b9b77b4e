/**
 * Origin mTLS: a cluster with a client certificate (mtlsCertificate) sends every attempt through
 * that binding's fetch, which presents the certificate in its TLS handshake with the target.
 * Validation refuses a config naming a binding the deployment lacks; this guards a config that got
 * in without that check. Its absence is the gateway's fault, not the upstream's: no attempt is made,
 * so neither the balancer nor the breaker hears of it.
 */
import { GatewayError } from "../../errors.ts";
import { fetcherBinding } from "../../lib/bindings.ts";
import type { CompiledCluster } from "../../lib/cluster/config.ts";
import { log } from "../../lib/log.ts";

/** Logs that `cluster`'s certificate binding is missing from the deployment (or cannot fetch). */
export function missingCertificate(cluster: CompiledCluster, sending: "request" | "mirror", requestId?: string): void {
  log({ level: "error", event: "proxy.certificate_missing", cluster: cluster.name, binding: cluster.mtlsBinding, sending, requestId });
}

/**
 * The binding that sends the attempts to `cluster`, whose `mtlsBinding` is set. Without it, the
 * request is answered 500 internal-error (a configuration the deployment cannot serve), before any
 * attempt.
 */
export function certificateFetcher(env: object, cluster: CompiledCluster, binding: string, requestId: string): Fetcher {
  const fetcher = fetcherBinding(env, binding);
  if (fetcher !== null) return fetcher;
  missingCertificate(cluster, "request", requestId);
  throw new GatewayError("internal-error", "The gateway is not set up to reach this route's upstream.");
}
