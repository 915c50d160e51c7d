"use client";
/** Overview: which server and process this is, its signing key, database and uptime. */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Badge } from "@/components/badge";
import { Card, Stat } from "@/components/card";
import { formatDuration, formatTimestamp } from "@/components/format";
import { KeyValueList } from "@/components/key-value-list";
import { PageHeader } from "@/components/page-header";
import { ErrorState, LoadingState } from "@/components/states";
import { useTRPC } from "@/components/trpc";
import { useNow } from "@/components/use-now";

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
      <div className="stack" style={{ marginTop: 16 }}>
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
