export * from "./base64";
export * from "./canonical-json";
export * from "./ed25519";
export * from "./signing";
