/**
 * IP range filter for outbound federation (Synapse's ip_range_blacklist / ip_range_whitelist): stops a remote
 * server name, a well-known delegation or a DNS answer from pointing our requests at private or internal
 * addresses. The whitelist wins over the blacklist.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";

/** Synapse's DEFAULT_IP_RANGE_BLOCKLIST: loopback, private, CGNAT, link-local, documentation, multicast, … */
export const DEFAULT_IP_RANGE_BLACKLIST: readonly string[] = [
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "192.0.0.0/24",
  "169.254.0.0/16",
  "192.88.99.0/24",
  "198.18.0.0/15",
  "192.0.2.0/24",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "::1/128",
  "fe80::/10",
  "fc00::/7",
  "2001:db8::/32",
  "ff00::/8",
  "fec0::/10",
];

/** Synapse always adds the unspecified addresses: connecting to them reaches the local host. */
const ALWAYS_BLACKLISTED = ["0.0.0.0", "::"];

export class IpRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IpRangeError";
  }
}

export interface IpRangeFilterOptions {
  /** CIDR ranges or single addresses; defaults to DEFAULT_IP_RANGE_BLACKLIST */
  blacklist?: readonly string[];
  whitelist?: readonly string[];
}

export class IpRangeFilter {
  private readonly blacklist: BlockList;
  private readonly whitelist: BlockList;

  constructor(options: IpRangeFilterOptions = {}) {
    this.blacklist = buildList([...(options.blacklist ?? DEFAULT_IP_RANGE_BLACKLIST), ...ALWAYS_BLACKLISTED], "ip_range_blacklist");
    this.whitelist = buildList(options.whitelist ?? [], "ip_range_whitelist");
  }

  /** Whether we may connect to `ip` (an IPv4 or IPv6 address, optionally bracketed or with a zone). */
  isAllowed(ip: string): boolean {
    const { address, family } = normalizeAddress(ip);
    if (this.whitelist.check(address, family)) return true;
    return !this.blacklist.check(address, family);
  }
}

function normalizeAddress(ip: string): { address: string; family: "ipv4" | "ipv6" } {
  const address = ip.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (isIPv4(address)) return { address, family: "ipv4" };
  if (isIPv6(address)) return { address, family: "ipv6" };
  throw new IpRangeError(`not an IP address: ${ip}`);
}

/**
 * Node's BlockList already matches IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) against IPv4 rules. Like Synapse,
 * each IPv4 range is also added in its IPv4-compatible (::a.b.c.d) and 6to4 (2002:AABB:CCDD::/16+n) forms, which
 * some stacks still route to the embedded IPv4 address.
 */
function buildList(ranges: readonly string[], setting: string): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const { address, prefix, family } = parseCidr(range, setting);
    list.addSubnet(address, prefix, family);
    if (family === "ipv4") {
      list.addSubnet(`::${address}`, 96 + prefix, "ipv6");
      list.addSubnet(sixToFour(address), 16 + prefix, "ipv6");
    }
  }
  return list;
}

function parseCidr(range: string, setting: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const match = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(range.trim());
  const address = match?.[1];
  const family = address && isIPv4(address) ? "ipv4" : address && isIPv6(address) ? "ipv6" : null;
  if (!match || !address || !family) throw new IpRangeError(`${setting}: invalid IP range "${range}"`);
  const max = family === "ipv4" ? 32 : 128;
  const prefix = match[2] === undefined ? max : Number(match[2]);
  if (prefix > max) throw new IpRangeError(`${setting}: prefix length of "${range}" exceeds ${max}`);
  return { address, prefix, family };
}

function sixToFour(ipv4: string): string {
  const hex = ipv4.split(".").map((octet) => Number(octet).toString(16).padStart(2, "0"));
  return `2002:${hex[0]}${hex[1]}:${hex[2]}${hex[3]}::`;
}
