export * from "./hashes";
export * from "./pdu";
export * from "./redaction";
export * from "./room-versions";
export * from "./signing";
