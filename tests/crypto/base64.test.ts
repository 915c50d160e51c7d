import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeBase64, encodeBase64, encodeBase64Url } from "../../server/crypto";

// RFC 4648 §10 test vectors, without the padding (spec appendix "Unpadded Base64").
const RFC4648 = [
  ["", ""],
  ["f", "Zg"],
  ["fo", "Zm8"],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg"],
  ["fooba", "Zm9vYmE"],
  ["foobar", "Zm9vYmFy"],
] as const;

describe("unpadded base64", () => {
  test("encodes the RFC 4648 vectors without padding", () => {
    for (const [plain, encoded] of RFC4648) assert.equal(encodeBase64(Buffer.from(plain)), encoded);
  });

  test("decodes them with and without padding", () => {
    for (const [plain, encoded] of RFC4648) {
      assert.equal(decodeBase64(encoded).toString(), plain);
      const padded = encoded + "=".repeat((4 - (encoded.length % 4)) % 4);
      assert.equal(decodeBase64(padded).toString(), plain);
    }
  });

  test("encodes a subarray view, not its whole backing buffer", () => {
    const backing = Buffer.from("xxfooxx");
    assert.equal(encodeBase64(backing.subarray(2, 5)), "Zm9v");
    assert.equal(encodeBase64Url(new Uint8Array(backing.buffer, backing.byteOffset + 2, 3)), "Zm9v");
  });

  test("uses - and _ in the URL-safe alphabet and accepts both alphabets when decoding", () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf]);
    assert.equal(encodeBase64(bytes), "+/+/");
    assert.equal(encodeBase64Url(bytes), "-_-_");
    assert.deepEqual(decodeBase64("+/+/"), bytes);
    assert.deepEqual(decodeBase64("-_-_"), bytes);
    assert.deepEqual(decodeBase64("-w"), Buffer.from([0xfb]));
  });

  test("rejects other characters, mixed alphabets and impossible lengths", () => {
    for (const bad of ["Zm9v!", "Zm 9v", "+_", "Zm9vY", "Z===", "=Zm9"]) {
      assert.throws(() => decodeBase64(bad), /invalid base64/, bad);
    }
  });
});
