export * from "./base64";
export * from "./canonical-json";
export * from "./ed25519";
export * from "./json-object";
export * from "./signing";
