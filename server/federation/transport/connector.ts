/**
 * Opens the sockets of outbound federation traffic. Host names are resolved here, with the injected resolver, and
 * every address is checked against the IP range filter before we connect to it: resolving ourselves and dialling
 * the IP means no DNS answer can slip past the filter (Synapse refuses the whole lookup when any address is
 * blacklisted, and so do we). TLS goes to the IP with the SNI / certificate name the discovery step chose.
 */
import type { Socket } from "node:net";
import { isIP, isIPv6 } from "node:net";
import { Agent, buildConnector } from "undici";
import type { DnsResolver } from "./discovery";
import { ConnectorError } from "./errors";
import type { IpRangeFilter } from "./ip-range";

export interface SafeConnectorOptions {
  resolver: DnsResolver;
  /** null: no filtering (operator overrides) */
  ipFilter: IpRangeFilter | null;
  /** federation_verify_certificates */
  verifyCertificates: boolean;
  /** PEM CA certificates replacing the system store (Synapse's federation_custom_ca_list) */
  caCertificates?: readonly string[];
  connectTimeoutMs: number;
}

export interface ConnectTarget {
  /** host name or IP (IPv6 without brackets) */
  host: string;
  port: number;
  tls: boolean;
  /** SNI and certificate name; null: none sent, the certificate must name the IP */
  servername: string | null;
}

export type SafeConnector = (target: ConnectTarget) => Promise<Socket>;

export function createSafeConnector(options: SafeConnectorOptions): SafeConnector {
  const raw = buildConnector({
    rejectUnauthorized: options.verifyCertificates,
    ...(options.caCertificates?.length ? { ca: [...options.caCertificates] } : {}),
    timeout: options.connectTimeoutMs,
  });
  const connectOnce = (ip: string, target: ConnectTarget) =>
    new Promise<Socket>((resolve, reject) => {
      raw(
        {
          hostname: ip,
          host: isIPv6(ip) ? `[${ip}]` : ip,
          protocol: target.tls ? "https:" : "http:",
          port: String(target.port),
          ...(target.servername ? { servername: target.servername } : {}),
        },
        (err, socket) => (err ? reject(err) : resolve(socket!)),
      );
    });

  return async (target) => {
    const addresses = await resolveAddresses(options.resolver, target.host);
    if (options.ipFilter) {
      const blocked = addresses.filter((ip) => !options.ipFilter!.isAllowed(ip));
      if (blocked.length > 0) {
        const via = isIP(target.host) ? "" : ` (${target.host} resolves to ${addresses.join(", ")})`;
        throw new ConnectorError("blocked_ip", `refusing to connect to blacklisted address ${blocked.join(", ")}${via}`);
      }
    }
    let lastError: unknown;
    for (const ip of addresses) {
      try {
        return await connectOnce(ip, target);
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError;
  };
}

async function resolveAddresses(resolver: DnsResolver, host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  let answers;
  try {
    answers = await resolver.lookup(host);
  } catch (e) {
    throw new ConnectorError("dns", `DNS lookup of ${host} failed: ${(e as Error).message}`, e);
  }
  if (answers.length === 0) throw new ConnectorError("dns", `DNS lookup of ${host} returned no addresses`);
  return answers.map((a) => a.address);
}

/** Adapts a SafeConnector to undici's connector interface, dialling `targets()` in order instead of the URL's host. */
export function undiciConnector(connect: SafeConnector, targets?: () => ConnectTarget[]): buildConnector.connector {
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, "$1");
    const list = targets?.() ?? [
      {
        host,
        port: Number(options.port) || (options.protocol === "https:" ? 443 : 80),
        tls: options.protocol === "https:",
        // As undici does: SNI from the Host header when one was set, else from the URL's host name.
        servername: options.servername || (isIP(host) ? null : host),
      },
    ];
    (async () => {
      let lastError: unknown;
      for (const target of list) {
        try {
          return await connect(target);
        } catch (e) {
          lastError = e;
          // A blacklisted target is a policy answer, not a flaky route: report it rather than a later refusal.
          if (e instanceof ConnectorError && e.errorClass === "blocked_ip") throw e;
        }
      }
      throw lastError;
    })().then(
      (socket) => callback(null, socket),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    );
  };
}

/**
 * An undici Agent whose connections go through the safe connector: for the well-known GET and any other plain
 * HTTPS fetch on behalf of federation (the IP filter and TLS settings apply to them too).
 */
export function createFederationAgent(options: SafeConnectorOptions): Agent {
  return new Agent({ connect: undiciConnector(createSafeConnector(options)) });
}
