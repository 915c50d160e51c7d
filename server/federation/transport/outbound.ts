/**
 * The outbound federation stack built from the config: IP range filter → server discovery (its well-known GET on a
 * filtered agent) → signed requests (MatrixFederationClient) → typed endpoints (TransportLayerClient). The engine
 * and the CLI's `request` / `check-server` build it here, so both reach other servers exactly the same way.
 */
import type { Agent } from "undici";
import type { SigningKey } from "../../crypto";
import type { Config } from "../../config";
import { TransportLayerClient } from "./client";
import { createFederationAgent } from "./connector";
import { ServerDiscovery, createSystemDnsResolver, type DnsResolver } from "./discovery";
import { MatrixFederationClient, type FederationBackoff } from "./http-client";
import { IpRangeFilter } from "./ip-range";

export const FEDERATION_CONNECT_TIMEOUT_MS = 10_000;

export type OutboundFederationConfig = Pick<
  Config,
  "server_name" | "ip_range_blacklist" | "ip_range_whitelist" | "federation_verify_certificates" | "federation_domain_overrides"
>;

export interface OutboundFederationOptions {
  /** signs every request (X-Matrix) */
  signingKey: SigningKey;
  /** replaces the system DNS (tests) */
  resolver?: DnsResolver;
  /** destination retry timings; absent for one-off requests (the CLI) */
  backoff?: FederationBackoff;
  /** PEM CAs trusted instead of the system store (tests, private federations) */
  caCertificates?: readonly string[];
  /** replaces config.federation_verify_certificates (the CLI's --no-verify-tls) */
  verifyCertificates?: boolean;
  now?: () => number;
}

export interface OutboundFederation {
  ipFilter: IpRangeFilter;
  discovery: ServerDiscovery;
  httpClient: MatrixFederationClient;
  transportClient: TransportLayerClient;
  /** whether certificates are checked, after the option/config choice */
  verifyCertificates: boolean;
  caCertificates: readonly string[] | undefined;
  /** closes pooled connections and the well-known agent's */
  close(): Promise<void>;
}

export function createOutboundFederation(config: OutboundFederationConfig, options: OutboundFederationOptions): OutboundFederation {
  const now = options.now ?? Date.now;
  const verifyCertificates = options.verifyCertificates ?? config.federation_verify_certificates;
  const caCertificates = options.caCertificates;
  const ipFilter = new IpRangeFilter({ blacklist: config.ip_range_blacklist, whitelist: config.ip_range_whitelist });
  const resolver = options.resolver ?? createSystemDnsResolver();
  const wellKnownAgent: Agent = createFederationAgent({
    resolver, ipFilter, verifyCertificates, caCertificates, connectTimeoutMs: FEDERATION_CONNECT_TIMEOUT_MS,
  });
  const discovery = new ServerDiscovery({ resolver, wellKnownDispatcher: wellKnownAgent, overrides: config.federation_domain_overrides, now });
  const httpClient = new MatrixFederationClient({
    serverName: config.server_name, signingKey: options.signingKey, discovery, ipFilter, backoff: options.backoff, now,
    verifyCertificates, caCertificates, timeouts: { connectMs: FEDERATION_CONNECT_TIMEOUT_MS },
  });
  return {
    ipFilter,
    discovery,
    httpClient,
    transportClient: new TransportLayerClient(httpClient),
    verifyCertificates,
    caCertificates,
    async close() {
      await Promise.all([httpClient.close(), wellKnownAgent.close()]);
    },
  };
}
