"use client";
/**
 * Replication: each instance's position on each stream, each consumer's lag behind its writer (stalled ones
 * marked), and live lag charts per stream with a series per writer → consumer, 10 minutes wide, pausable and
 * zoomable. Followed deployments (observer mode) can be picked instead of our own.
 */
import { useQuery } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import type { LagSample, PositionsSnapshot } from "@/server/replication/positions";
import { Badge } from "@/components/badge";
import { Card } from "@/components/card";
import { formatCount, formatLag, formatRelative } from "@/components/format";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { TimeSeriesChart, type ChartSeries } from "@/components/time-series-chart";
import { useTRPC } from "@/components/trpc";
import { useReplicationFeed } from "@/components/use-replication-feed";

type Unit = "ms" | "tokens";

export function ReplicationView() {
  const trpc = useTRPC();
  const instances = useQuery({ ...trpc.replication.instances.queryOptions(), refetchInterval: 5000 });
  const [deployment, setDeployment] = useState<string | undefined>(undefined);
  const feed = useReplicationFeed(deployment);
  const [paused, setPaused] = useState<LagSample[] | null>(null);
  const [unit, setUnit] = useState<Unit>("ms");
  const selectId = useId();

  const deployments = instances.data?.deployments ?? [];
  const snapshot = feed.snapshot;
  const shownSamples = paused ?? feed.samples;
  const connection = feed.live.status === "pending" ? <Badge tone="good">live</Badge>
    : feed.live.status === "error" ? <Badge tone="bad">disconnected, retrying</Badge> : <Badge tone="neutral">connecting…</Badge>;

  return (
    <>
      <PageHeader
        title="Replication"
        description={<>Where every instance is on each stream and how far its consumers lag behind. {connection}</>}
      />
      {deployments.length > 1 ? (
        <div className="field deployment-picker">
          <label htmlFor={selectId}>Deployment</label>
          <select id={selectId} value={deployment ?? ""} onChange={(e) => { setPaused(null); setDeployment(e.target.value || undefined); }}>
            {deployments.map((d) => (
              <option key={d.server_name} value={d.observed ? d.server_name : ""}>{d.server_name}{d.observed ? " (followed)" : " (this deployment)"}</option>
            ))}
          </select>
        </div>
      ) : null}
      {feed.live.status === "error" ? <p className="alert alert-error" role="alert">The live feed failed: {feed.live.error?.message}. Reconnecting.</p> : null}

      <div className="stack">
        <InstancesCard snapshot={snapshot} senders={instances.data?.federation_sender_instances ?? []} />
        <PositionsCard snapshot={snapshot} />
        <Card
          title="Lag over the last 10 minutes"
          labelledBy="lag-charts"
          description="One chart per stream, one line per writer → consumer. New samples arrive every second."
          actions={
            <div className="chart-controls">
              <fieldset className="segmented">
                <legend className="visually-hidden">Lag in</legend>
                {(["ms", "tokens"] as const).map((u) => (
                  <span key={u}>
                    <input type="radio" id={`unit-${u}`} name="lag-unit" checked={unit === u} onChange={() => setUnit(u)} />
                    <label htmlFor={`unit-${u}`}>{u === "ms" ? "time" : "positions"}</label>
                  </span>
                ))}
              </fieldset>
              <button type="button" className="secondary small" aria-pressed={paused !== null} onClick={() => setPaused(paused ? null : feed.samples)}>
                {paused ? "Resume" : "Pause"}
              </button>
            </div>
          }
        >
          {feed.history.isError ? <ErrorState title="Could not load the lag history" error={feed.history.error} onRetry={() => void feed.history.refetch()} /> : null}
          <LagCharts samples={shownSamples} snapshot={snapshot} unit={unit} />
        </Card>
      </div>
    </>
  );
}

function InstancesCard({ snapshot, senders }: { snapshot: PositionsSnapshot | null; senders: string[] }) {
  return (
    <Card title="Instances" labelledBy="replication-instances">
      {!snapshot ? <LoadingState label="Connecting to the live feed…" /> : (
        <div className="table-wrap">
          <table data-testid="instances-table">
            <thead><tr><th scope="col">Instance</th><th scope="col">State</th><th scope="col">Last heard from</th><th scope="col">Sends federation</th></tr></thead>
            <tbody>
              {snapshot.instances.map((i) => (
                <tr key={i.name}>
                  <td className="mono">{i.name}{i.self ? <> <Badge tone="info">this process</Badge></> : null}</td>
                  <td>{i.alive ? <Badge tone="good">alive</Badge> : <Badge tone="bad">gone</Badge>}</td>
                  <td>{i.self ? "–" : i.lastSeenTs === null ? "never" : formatRelative(i.lastSeenTs, snapshot.ts)}</td>
                  <td>{senders.includes(i.name) ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** Streams as rows, instances as columns: the position an instance writes, or how far it processed each writer. */
function PositionsCard({ snapshot }: { snapshot: PositionsSnapshot | null }) {
  if (!snapshot) return <Card title="Positions" labelledBy="replication-positions"><LoadingState label="Waiting for the first snapshot…" /></Card>;
  const streams = [...new Set([...snapshot.writers.map((w) => w.stream), ...snapshot.consumers.map((c) => c.stream)])].sort();
  const names = [...new Set([...snapshot.instances.map((i) => i.name), ...snapshot.writers.map((w) => w.instance), ...snapshot.consumers.map((c) => c.consumer)])];
  return (
    <Card title="Positions" labelledBy="replication-positions" description="Bold: the instance writes the stream. Otherwise: what it has processed of each writer, and how far behind that is.">
      {streams.length === 0 ? (
        <EmptyState title="No streams yet">
          Streams appear as they are written. In the embedded mode the events stream starts with the first event written (create a room, or
          receive one over federation); with Redis, each worker&apos;s streams appear as it connects.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table data-testid="positions-table">
            <thead>
              <tr><th scope="col">Stream</th>{names.map((n) => <th key={n} scope="col" className="mono">{n}</th>)}</tr>
            </thead>
            <tbody>
              {streams.map((stream) => {
                const stalled = snapshot.consumers.some((c) => c.stream === stream && c.stalled);
                return (
                  <tr key={stream} className={stalled ? "stalled" : undefined} data-stream={stream}>
                    <th scope="row" className="mono">{stream}{stalled ? <> <Badge tone="bad">stalled</Badge></> : null}</th>
                    {names.map((n) => {
                      const writer = snapshot.writers.find((w) => w.stream === stream && w.instance === n);
                      const consumed = snapshot.consumers.filter((c) => c.stream === stream && c.consumer === n);
                      return (
                        <td key={n}>
                          {writer ? <strong className="mono">{formatCount(writer.token)}</strong> : null}
                          {consumed.map((c) => (
                            <div key={c.writer} className={c.stalled ? "cell-stalled" : undefined}>
                              <span className="mono">{formatCount(c.token)}</span>
                              <span className="stat-detail"> of {c.writer}: {c.lagTokens === null ? "writer unknown" : `${formatCount(c.lagTokens)} behind`}{c.lagMs === null ? "" : `, ${formatLag(c.lagMs)}`}</span>
                              {c.stalled ? <> <Badge tone="bad">stalled</Badge></> : null}
                            </div>
                          ))}
                          {!writer && consumed.length === 0 ? <span className="muted">–</span> : null}
                        </td>
                      );
                    })}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function LagCharts({ samples, snapshot, unit }: { samples: LagSample[]; snapshot: PositionsSnapshot | null; unit: Unit }) {
  const charts = useMemo(() => {
    const timestamps = samples.map((s) => s.ts);
    const streams = [...new Set(samples.flatMap((s) => s.points.map((p) => p.stream)))].sort();
    return streams.map((stream) => {
      const keys = [...new Set(samples.flatMap((s) => s.points.filter((p) => p.stream === stream).map((p) => `${p.writer}\u0000${p.consumer}`)))].sort();
      const series: ChartSeries[] = keys.map((key) => {
        const [writer, consumer] = key.split("\u0000") as [string, string];
        return {
          key,
          label: `${writer} → ${consumer}`,
          values: samples.map((s) => {
            const p = s.points.find((q) => q.stream === stream && q.writer === writer && q.consumer === consumer);
            return p ? (unit === "ms" ? p.lagMs : p.lagTokens) : null;
          }),
        };
      });
      return { stream, timestamps, series };
    });
  }, [samples, unit]);

  if (charts.length === 0) {
    return (
      <EmptyState title={samples.length === 0 ? "Waiting for samples…" : "No consumers to chart yet"}>
        A line appears for each consumer once it has processed something of a writer&apos;s stream.
      </EmptyState>
    );
  }
  const format = unit === "ms" ? formatLag : (v: number) => formatCount(Math.round(v));
  return (
    <div className="stack">
      {charts.map((c) => {
        const stalled = snapshot?.consumers.some((x) => x.stream === c.stream && x.stalled) ?? false;
        const latest = c.series.map((s) => `${s.label} ${s.values.at(-1) === null || s.values.at(-1) === undefined ? "unknown" : format(s.values.at(-1)!)}`).join(", ");
        return (
          <section key={c.stream} aria-labelledby={`chart-${c.stream}`} className={stalled ? "chart-section stalled" : "chart-section"}>
            <h3 id={`chart-${c.stream}`} className="subheading"><span className="mono">{c.stream}</span>{stalled ? <> <Badge tone="bad">stalled</Badge></> : null}</h3>
            <TimeSeriesChart
              testId={`lag-chart-${c.stream}`}
              timestamps={c.timestamps}
              series={c.series}
              formatValue={format}
              label={`Lag of the ${c.stream} stream in ${unit === "ms" ? "time" : "positions"} over the last ${Math.round((c.timestamps.length ? (c.timestamps.at(-1)! - c.timestamps[0]!) : 0) / 60_000)} minutes; now: ${latest}`}
            />
          </section>
        );
      })}
    </div>
  );
}
