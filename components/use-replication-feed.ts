"use client";
/**
 * Live replication positions for charts: the last 10 minutes of lag samples (replication.lagHistory once), then
 * one sample per snapshot pushed by replication.onPositions (about every second, over SSE).
 */
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useState } from "react";
import type { LagSample, PositionsSnapshot } from "@/server/replication/positions";
import { useTRPC } from "./trpc";

/** What the charts keep. */
export const WINDOW_MS = 10 * 60_000;

function sampleOf(snapshot: PositionsSnapshot): LagSample {
  return {
    ts: snapshot.ts,
    points: snapshot.consumers.map((c) => ({
      stream: c.stream, writer: c.writer, consumer: c.consumer, writerToken: c.writerToken, consumerToken: c.token, lagTokens: c.lagTokens, lagMs: c.lagMs,
    })),
  };
}

/** Samples of both sources in time order, one per timestamp, the window's worth. */
function merge(a: readonly LagSample[], b: readonly LagSample[]): LagSample[] {
  const byTs = new Map<number, LagSample>();
  for (const s of [...a, ...b]) byTs.set(s.ts, s);
  const all = [...byTs.values()].sort((x, y) => x.ts - y.ts);
  const newest = all.at(-1)?.ts ?? 0;
  return all.filter((s) => s.ts > newest - WINDOW_MS);
}

export function useReplicationFeed(deployment: string | undefined) {
  const trpc = useTRPC();
  const input = deployment === undefined ? {} : { deployment };
  const history = useQuery({ ...trpc.replication.lagHistory.queryOptions({ ...input, seconds: WINDOW_MS / 1000 }), staleTime: Infinity, refetchOnWindowFocus: false });
  const [samples, setSamples] = useState<LagSample[]>([]);
  const [snapshot, setSnapshot] = useState<PositionsSnapshot | null>(null);

  useEffect(() => {
    setSamples([]);
    setSnapshot(null);
  }, [deployment]);

  useEffect(() => {
    if (history.data) setSamples((current) => merge(history.data, current));
  }, [history.data]);

  const live = useSubscription(trpc.replication.onPositions.subscriptionOptions(input, {
    onData(data) {
      const snap = data as PositionsSnapshot;
      setSnapshot(snap);
      setSamples((current) => merge(current, [sampleOf(snap)]));
    },
  }));

  return { samples, snapshot, live, history };
}
