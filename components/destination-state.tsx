/** How the console names and colours a destination's state and explains why it last failed (DESIGN §7). */
import type { DestinationState } from "@/server/federation/sender/destination-status";
import { Badge, type BadgeTone } from "./badge";
import type { RouterOutputs } from "./trpc";

export type DestinationStatus = RouterOutputs["destinations"]["get"];
export type LastError = NonNullable<DestinationStatus["last_error"]>;

/** Most in need of an operator first: the order of the state filter and of a sort by state. */
export const STATES_BY_URGENCY: readonly DestinationState[] = ["stuck", "backing_off", "catching_up", "never_contacted", "healthy"];

export const STATE_LABEL: Record<DestinationState, string> = {
  stuck: "stuck",
  backing_off: "backing off",
  catching_up: "catching up",
  never_contacted: "never contacted",
  healthy: "healthy",
};

const STATE_TONE: Record<DestinationState, BadgeTone> = {
  stuck: "bad", backing_off: "warn", catching_up: "info", never_contacted: "neutral", healthy: "good",
};

export const STATE_HELP: Record<DestinationState, string> = {
  stuck: "work has been waiting for more than 5 minutes and nothing was sent",
  backing_off: "the last attempts failed: nothing is sent until the retry time",
  catching_up: "sending what it missed while it was unreachable",
  never_contacted: "nothing has been sent to it yet",
  healthy: "sending normally",
};

export function DestinationStateBadge({ state }: { state: DestinationState }) {
  return <Badge tone={STATE_TONE[state]}>{STATE_LABEL[state]}</Badge>;
}

const HOW_IT_FAILED: Record<string, string> = {
  dns: "Its name did not resolve",
  connect: "Could not connect",
  tls: "The TLS handshake failed",
  timeout: "It did not answer in time",
  response_too_large: "Its answer was too large",
  blocked_ip: "It resolves only to addresses we may not contact",
  backing_off: "Not tried: backing off",
  invalid_response: "Its answer was not what the endpoint promises",
};

/** "It answered 403 M_FORBIDDEN: …", "Could not connect: connect ECONNREFUSED 127.0.0.1:9". */
export function describeLastError(e: LastError): string {
  const how = e.error_class === "http"
    ? `It answered HTTP ${e.status ?? "?"}${e.errcode ? ` ${e.errcode}` : ""}`
    : HOW_IT_FAILED[e.error_class] ?? e.error_class;
  return `${how}: ${e.message}`;
}
