"use client";
/** A page of the console failed to render: say so and offer a retry, keeping the navigation usable. */
import { ErrorState } from "@/components/states";

export default function ConsoleError({ error, retry }: { error: unknown; retry: () => void }) {
  // errors from server components arrive with a generic message and a digest matching the server log line
  const digest = error instanceof Error && "digest" in error ? String(error.digest) : undefined;
  const shown = digest ? new Error(`the server logged the details (digest ${digest})`) : error;
  return <ErrorState title="This page could not be shown" error={shown} onRetry={retry} />;
}
