/** Copying JSON objects on hot paths (event and JSON signing). */
import type { JsonObject } from "./canonical-json";

/**
 * `{ ...object, ...members }`, built key by key. In V8 a spread copy that then gains keys gets a hidden class of its
 * own, which costs more than the copy itself and slows every later read of the result; an object filled key by key
 * from `{}` shares its hidden class with others of the same keys. A `__proto__` key, which is plain data in JSON but
 * would set the prototype if assigned, is copied by the spread.
 */
export function withMembers<T extends JsonObject>(object: T, members: JsonObject): T {
  if (Object.hasOwn(object, "__proto__") || Object.hasOwn(members, "__proto__")) return { ...object, ...members } as T;
  const copy: JsonObject = {};
  for (const key of Object.keys(object)) copy[key] = object[key]!;
  for (const key of Object.keys(members)) copy[key] = members[key]!;
  return copy as T;
}
