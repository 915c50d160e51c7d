import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_IP_RANGE_BLACKLIST, IpRangeError, IpRangeFilter } from "../../server/federation/transport/ip-range";

describe("IpRangeFilter", () => {
  it("blocks Synapse's default ranges in all their forms and allows public addresses", () => {
    const filter = new IpRangeFilter();
    for (const ip of [
      "127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.0.1", "100.64.0.1", "169.254.169.254", "192.0.0.8",
      "198.18.5.5", "203.0.113.9", "224.0.0.251", "0.0.0.0", "::", "::1", "fe80::1", "[fe80::1%eth0]", "fd12::1",
      "2001:db8::1", "ff02::1", "fec0::1",
      "::ffff:127.0.0.1", "::ffff:10.0.0.1", // IPv4-mapped
      "::127.0.0.1", // IPv4-compatible
      "2002:7f00:1::1", "2002:c0a8:101::", // 6to4 of 127.0.0.1 and 192.168.1.1
    ]) {
      assert.equal(filter.isAllowed(ip), false, `${ip} should be blocked`);
    }
    for (const ip of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]) {
      assert.equal(filter.isAllowed(ip), true, `${ip} should be allowed`);
    }
    assert.ok(DEFAULT_IP_RANGE_BLACKLIST.includes("100.64.0.0/10"));
  });

  it("lets the whitelist win and replaces the default blacklist when one is given", () => {
    const filter = new IpRangeFilter({ whitelist: ["127.0.0.1/32", "fd00::/8"] });
    assert.equal(filter.isAllowed("127.0.0.1"), true);
    assert.equal(filter.isAllowed("::ffff:127.0.0.1"), true);
    assert.equal(filter.isAllowed("127.0.0.2"), false);
    assert.equal(filter.isAllowed("fd00::5"), true);

    const custom = new IpRangeFilter({ blacklist: ["8.8.8.0/24"] });
    assert.equal(custom.isAllowed("8.8.8.8"), false);
    assert.equal(custom.isAllowed("127.0.0.1"), true);
    // The unspecified addresses stay blocked whatever the configuration says.
    assert.equal(custom.isAllowed("0.0.0.0"), false);
    assert.equal(custom.isAllowed("::"), false);
  });

  it("rejects invalid configuration and non-addresses clearly", () => {
    assert.throws(() => new IpRangeFilter({ blacklist: ["10.0.0.0/33"] }), (e: unknown) => e instanceof IpRangeError && /exceeds 32/.test(e.message));
    assert.throws(() => new IpRangeFilter({ whitelist: ["example.org"] }), (e: unknown) => e instanceof IpRangeError && /ip_range_whitelist/.test(e.message));
    assert.throws(() => new IpRangeFilter().isAllowed("localhost"), IpRangeError);
  });
});
