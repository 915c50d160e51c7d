import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CanonicalJsonError, canonicalJson, canonicalJsonBytes, compareCodePoints, parseStrictJson } from "../../server/crypto";

describe("canonical JSON: spec appendix examples", () => {
  const examples: Array<[string, string]> = [
    ["{}", "{}"],
    ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
    ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
    ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
    [
      '{"auth":{"success":true,"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"medium":"email","address":"john.doe@example.org"},{"medium":"msisdn","address":"123456789"}]}}}',
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['{"a": "日本語"}', '{"a":"日本語"}'],
    ['{"本": 2, "日": 1}', '{"日":1,"本":2}'],
    ['{"a": "\\u65E5"}', '{"a":"日"}'],
    ['{"a": null}', '{"a":null}'],
  ];

  for (const [input, expected] of examples) {
    test(`${input.replace(/\s+/g, "").slice(0, 40)} → ${expected.slice(0, 40)}`, () => {
      assert.equal(canonicalJson(parseStrictJson(input)), expected);
    });
  }

  test("-0 and 1e10 as values print as 0 and 10000000000", () => {
    assert.equal(canonicalJson({ a: -0, b: 1e10 }), '{"a":0,"b":10000000000}');
  });

  test("the bytes are UTF-8", () => {
    assert.deepEqual(canonicalJsonBytes({ a: "日" }), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe6, 0x97, 0xa5, 0x22, 0x7d]));
  });
});

describe("canonical JSON: key order by code point", () => {
  test("an astral character sorts after U+FFFD, unlike a UTF-16 sort", () => {
    const astral = "\u{1F600}"; // surrogates D83D DE00
    const replacement = "\uFFFD";
    assert.ok(astral < replacement, "JavaScript compares UTF-16 units");
    assert.ok(compareCodePoints(replacement, astral) < 0);
    assert.equal(canonicalJson({ [astral]: 1, [replacement]: 2, z: 3 }), `{"z":3,"${replacement}":2,"${astral}":1}`);
  });

  test("private-use BMP characters (U+E000) sort before astral ones, and a prefix sorts first", () => {
    assert.equal(canonicalJson({ "\u{10000}": 1, "\uE000": 2, ab: 3, a: 4 }), '{"a":4,"ab":3,"\uE000":2,"\u{10000}":1}');
  });
});

describe("canonical JSON: string escapes", () => {
  test("only the escapes the grammar requires, lowercase hex", () => {
    const value = { s: '"\\/\b\f\n\r\t\u0000\u001f\u007f\u2028é' };
    assert.equal(canonicalJson(value), '{"s":"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\u007f\u2028é"}');
  });

  test("keys are escaped like values", () => {
    assert.equal(canonicalJson({ "a\nb": true }), '{"a\\nb":true}');
  });
});

describe("canonical JSON: numbers", () => {
  test("accepts integers up to ±(2^53−1)", () => {
    assert.equal(canonicalJson([9007199254740991, -9007199254740991, 0]), "[9007199254740991,-9007199254740991,0]");
  });

  test("refuses integers beyond the range, floats, NaN and Infinity", () => {
    for (const bad of [9007199254740992, -9007199254740992, 1.5, -0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => canonicalJson({ n: bad }), CanonicalJsonError, String(bad));
    }
  });

  test("names where the bad value is", () => {
    assert.throws(() => canonicalJson({ a: [{ b: 0.5 }] }), /floats are not allowed in canonical JSON at a\[0\]\.b/);
  });

  test("refuses values JSON cannot hold", () => {
    assert.throws(() => canonicalJson({ f: () => 1 }), /function is not a JSON value/);
    assert.throws(() => canonicalJson({ n: 1n }), /bigint is not a JSON value/);
  });
});

describe("parseStrictJson", () => {
  test("refuses number literals JSON.parse would round or turn into floats", () => {
    for (const text of ['{"n":9007199254740992}', '{"n":-9007199254740992}', '{"n":1.5}', '{"n":1.0}', '{"n":1e3}', "[12345678901234567890]"]) {
      assert.throws(() => parseStrictJson(text), CanonicalJsonError, text);
    }
  });

  test("accepts the extreme safe integers and number-like strings", () => {
    assert.deepEqual(parseStrictJson('{"a":9007199254740991,"b":-9007199254740991,"c":"1.5e99 12345678901234567890","d":"\\"1.5"}'), {
      a: 9007199254740991,
      b: -9007199254740991,
      c: "1.5e99 12345678901234567890",
      d: '"1.5',
    });
  });

  test("passes syntax errors through", () => {
    assert.throws(() => parseStrictJson("{"), SyntaxError);
  });
});
