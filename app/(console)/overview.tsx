"use client";
/**
 * Overview: which server and process this is, the deployment's instances, destinations by state, replication lag
 * at a glance, the latest failures, and the signing key, database and uptime.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Badge } from "@/components/badge";
import { Card, Stat } from "@/components/card";
import { DestinationStateBadge, STATE_HELP, STATES_BY_URGENCY, describeLastError } from "@/components/destination-state";
import { formatCount, formatCountdown, formatDuration, formatLag, formatTimestamp } from "@/components/format";
import { KeyValueList } from "@/components/key-value-list";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { Sparkline } from "@/components/time-series-chart";
import { useTRPC } from "@/components/trpc";
import { useNow } from "@/components/use-now";
import { useReplicationFeed } from "@/components/use-replication-feed";

export function Overview() {
  const trpc = useTRPC();
  const health = useQuery({ ...trpc.server.health.queryOptions(), refetchInterval: 10_000 });
  const now = useNow();

  if (health.isPending) {
    return (
      <>
        <PageHeader title="Overview" />
        <LoadingState label="Loading server status…" />
      </>
    );
  }
  if (health.isError) {
    return (
      <>
        <PageHeader title="Overview" />
        <ErrorState title="Could not load the server status" error={health.error} onRetry={() => void health.refetch()} />
      </>
    );
  }

  const h = health.data;
  // counted from when the answer arrived, so the browser's clock offset does not matter
  const uptime = h.uptime_ms + Math.max(0, now - health.dataUpdatedAt);
  return (
    <>
      <PageHeader
        title={`Overview of ${h.server_name}`}
        description={<>Process <strong>{h.instance_name}</strong> running Switchyard {h.version}.</>}
      />
      <div className="grid">
        <Card title="Server" labelledBy="card-server">
          <Stat value={<span data-testid="server-name">{h.server_name}</span>} detail="server name (the domain in user and room IDs)" />
        </Card>
        <Card title="Process" labelledBy="card-process">
          <Stat
            value={<span data-testid="instance-name">{h.instance_name}</span>}
            detail={<>role <Badge tone={h.role === "main" ? "info" : "neutral"}>{h.role}</Badge></>}
          />
        </Card>
        <Card title="Signing key" labelledBy="card-key">
          <Stat value={<code data-testid="key-id">{h.key_id}</code>} detail={<Link href="/keys">See the public key</Link>} />
        </Card>
        <Card title="Uptime" labelledBy="card-uptime">
          <Stat value={<span data-testid="uptime">{formatDuration(uptime)}</span>} detail={`since ${formatTimestamp(h.started_at_ts)}`} />
        </Card>
      </div>
      <div className="grid grid-wide" style={{ marginTop: 16 }}>
        <InstancesCard />
        <DestinationsByState />
        <LagSparkline />
      </div>
      <div className="stack" style={{ marginTop: 16 }}>
        <RecentFailures />
        <Card title="Details" labelledBy="card-details">
          <KeyValueList
            items={[
              { label: "Server name", value: h.server_name, mono: true },
              { label: "Instance", value: h.instance_name, mono: true },
              { label: "Role", value: <Badge tone={h.role === "main" ? "info" : "neutral"}>{h.role}</Badge> },
              { label: "Version", value: h.version },
              {
                label: "Database",
                value: <Badge tone="neutral">{h.database === "pglite" ? "embedded (PGlite)" : "PostgreSQL"}</Badge>,
                testId: "database-kind",
              },
              { label: "Signing key", value: h.key_id, mono: true },
              { label: "Started", value: formatTimestamp(h.started_at_ts) },
            ]}
          />
        </Card>
      </div>
    </>
  );
}

function InstancesCard() {
  const trpc = useTRPC();
  const instances = useQuery({ ...trpc.replication.instances.queryOptions(), refetchInterval: 5000 });
  const ours = instances.data?.deployments.find((d) => !d.observed);
  return (
    <Card title="Instances" labelledBy="card-instances">
      {instances.isPending ? <LoadingState label="Loading instances…" /> : instances.isError ? (
        <ErrorState title="Could not load the instances" error={instances.error} onRetry={() => void instances.refetch()} />
      ) : (
        <ul className="plain-list" data-testid="instances">
          {(ours?.instances ?? []).map((i) => (
            <li key={i.name}>
              <span className="mono">{i.name}</span> {i.alive ? <Badge tone="good">alive</Badge> : <Badge tone="bad">gone</Badge>}
              {i.self ? <span className="stat-detail"> this process</span> : null}
              {instances.data.federation_sender_instances.includes(i.name) ? <span className="stat-detail"> · sends federation</span> : null}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function DestinationsByState() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.destinations.list.queryOptions({ limit: 1 }), refetchInterval: 2000 });
  return (
    <Card title="Destinations" labelledBy="card-destinations" actions={<Link href="/destinations">All</Link>}>
      {list.isPending ? <LoadingState label="Counting destinations…" /> : list.isError ? (
        <ErrorState title="Could not count the destinations" error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.total === 0 ? (
        <EmptyState title="No destinations yet">Servers appear here once we send them something.</EmptyState>
      ) : (
        <ul className="plain-list state-counts" data-testid="destination-counts">
          {STATES_BY_URGENCY.map((s) => (
            <li key={s} title={STATE_HELP[s]}>
              <Link href={`/destinations?state=${s}`}><DestinationStateBadge state={s} /></Link>{" "}
              <span className="stat-value small" data-testid={`count-${s}`}>{formatCount(list.data.counts[s])}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function LagSparkline() {
  const feed = useReplicationFeed(undefined);
  const timestamps = feed.samples.map((s) => s.ts);
  // the worst consumer at each sample
  const worst = feed.samples.map((s) => s.points.reduce<number | null>((max, p) => (p.lagMs === null ? max : Math.max(max ?? 0, p.lagMs)), null));
  const now = worst.at(-1);
  return (
    <Card title="Replication lag" labelledBy="card-lag" actions={<Link href="/replication">Details</Link>}>
      {feed.samples.length === 0 || worst.every((v) => v === null) ? (
        <EmptyState title="Nothing replicated yet">The worst consumer lag of the last 10 minutes shows here once a stream is written.</EmptyState>
      ) : (
        <>
          <Stat value={<span data-testid="lag-now">{now === null || now === undefined ? "unknown" : formatLag(now)}</span>} detail="worst consumer lag now; the last 10 minutes below" />
          <Sparkline timestamps={timestamps} values={worst} label={`Worst replication lag over the last 10 minutes, now ${now === null || now === undefined ? "unknown" : formatLag(now)}`} testId="lag-sparkline" />
        </>
      )}
    </Card>
  );
}

function RecentFailures() {
  const trpc = useTRPC();
  const failing = useQuery({ ...trpc.destinations.list.queryOptions({ state: "backing_off", order_by: "retry_last_ts", dir: "b", limit: 5 }), refetchInterval: 1000 });
  const now = useNow();
  const serverNow = failing.data ? failing.data.now + Math.max(0, now - failing.dataUpdatedAt) : now;
  return (
    <Card title="Recent failures" labelledBy="card-failures" description="Destinations backing off, the latest failure first." actions={<Link href="/destinations?state=backing_off&sort=retry_last_ts&dir=b">All failing</Link>}>
      {failing.isPending ? <LoadingState label="Loading failures…" /> : failing.isError ? (
        <ErrorState title="Could not load the failures" error={failing.error} onRetry={() => void failing.refetch()} />
      ) : failing.data.destinations.length === 0 ? (
        <EmptyState title="Nothing is failing">Every destination we tried recently answered.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table data-testid="recent-failures">
            <thead><tr><th scope="col">Destination</th><th scope="col">Failed</th><th scope="col">Retry in</th><th scope="col">Why</th></tr></thead>
            <tbody>
              {failing.data.destinations.map((d) => (
                <tr key={d.destination}>
                  <td className="mono"><Link href={`/destinations/${encodeURIComponent(d.destination)}`}>{d.destination}</Link></td>
                  <td title={formatTimestamp(d.retry_last_ts)}>{formatDuration(serverNow - d.retry_last_ts)} ago</td>
                  <td className="countdown">{d.next_retry_ts === null ? "–" : formatCountdown(d.next_retry_ts - serverNow)}</td>
                  <td className="error-cell">{d.last_error ? describeLastError(d.last_error) : <span className="muted">no error seen by this process</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
