"use client";
/**
 * One destination: its state and timings (live), what is queued for it by EDU type, its recent transactions, the
 * rooms it shares with us, how its name resolves, and the actions on it.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { ActionDialog, type ConfirmableAction } from "@/components/action-dialog";
import { Badge } from "@/components/badge";
import { Card } from "@/components/card";
import { useDestinationActions } from "@/components/destination-actions";
import { DestinationStateBadge, STATE_HELP, describeLastError, type DestinationStatus } from "@/components/destination-state";
import { formatCount, formatCountdown, formatDuration, formatRelative, formatTimestamp } from "@/components/format";
import { KeyValueList } from "@/components/key-value-list";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { useTRPC } from "@/components/trpc";
import { useNow } from "@/components/use-now";

const ROOMS_PAGE = 50;

export function DestinationView({ destination }: { destination: string }) {
  const trpc = useTRPC();
  const status = useQuery({ ...trpc.destinations.get.queryOptions({ destination }), refetchInterval: 1000 });
  const [action, setAction] = useState<ConfirmableAction | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const actions = useDestinationActions();
  const now = useNow();
  // the answer's age added to the server's clock as it was when it answered
  const serverNow = status.data ? status.data.now + Math.max(0, now - status.dataUpdatedAt) : now;

  const back = <Link href="/destinations">All destinations</Link>;
  if (status.isPending) {
    return (<><PageHeader title={destination} description={back} /><LoadingState label={`Loading ${destination}…`} /></>);
  }
  if (status.isError && !status.data) {
    return (
      <>
        <PageHeader title={destination} description={back} />
        <ErrorState title={`Could not load ${destination}`} error={status.error} onRetry={() => void status.refetch()} />
      </>
    );
  }
  const d = status.data;
  const failing = d.retry_last_ts > 0 || d.failure_ts !== null;

  return (
    <>
      <PageHeader title={destination} description={<>{back} · <DestinationStateBadge state={d.state} /> <span data-testid="state-help">{STATE_HELP[d.state]}</span></>} />
      <div className="page-actions" role="group" aria-label="Actions">
        <button type="button" onClick={() => setAction(actions.retryNow(destination))}>Retry now</button>
        <button type="button" className="secondary" onClick={() => setAction(actions.reset(destination))} disabled={!failing} title={failing ? undefined : "not failing: nothing to reset"}>Reset</button>
        <button type="button" className="secondary" onClick={() => setAction(actions.clearDiscoveryCache(destination))}>Clear discovery cache</button>
      </div>
      <div className="status-line" role="status" aria-live="polite">{outcome}</div>
      {status.isError ? <p className="alert alert-error" role="alert">Refreshing failed: {status.error.message}. Showing the last answer.</p> : null}

      <div className="stack">
        <Card title="Status" labelledBy="destination-status">
          <StatusList d={d} serverNow={serverNow} />
        </Card>
        <QueueCard d={d} serverNow={serverNow} />
        <TransactionsCard destination={destination} serverNow={serverNow} />
        <RoomsCard destination={destination} />
        <DiscoveryCard destination={destination} serverNow={serverNow} />
      </div>

      <ActionDialog action={action} onClose={() => setAction(null)} onDone={setOutcome} />
    </>
  );
}

function StatusList({ d, serverNow }: { d: DestinationStatus; serverNow: number }) {
  const dash = <span className="muted">–</span>;
  return (
    <KeyValueList
      items={[
        { label: "State", value: <><DestinationStateBadge state={d.state} /> {STATE_HELP[d.state]}</>, testId: "destination-state" },
        {
          label: "Next retry",
          value: d.next_retry_ts === null ? "not backing off" : <><span className="countdown" data-testid="next-retry">{formatCountdown(d.next_retry_ts - serverNow)}</span> <span className="stat-detail">at {formatTimestamp(d.next_retry_ts)}</span></>,
        },
        { label: "Retry interval", value: d.retry_interval > 0 ? formatDuration(d.retry_interval) : dash },
        { label: "Failing since", value: d.failure_ts === null ? dash : `${formatTimestamp(d.failure_ts)} (${formatDuration(serverNow - d.failure_ts)})` },
        { label: "Last error", value: d.last_error ? <>{describeLastError(d.last_error)} <span className="stat-detail">({formatRelative(d.last_error.at, serverNow)})</span></> : dash, testId: "last-error" },
        { label: "Last success", value: d.last_success_ts === null ? "none since this process started" : formatRelative(d.last_success_ts, serverNow) },
        { label: "Last acknowledged PDU", value: d.last_successful_stream_ordering === null ? "none yet" : `stream position ${d.last_successful_stream_ordering}`, mono: d.last_successful_stream_ordering !== null },
        { label: "Sent by", value: d.owner, mono: true },
      ]}
    />
  );
}

function QueueCard({ d, serverNow }: { d: DestinationStatus; serverNow: number }) {
  const edus = Object.entries(d.pending_edus_by_type).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Card title="Queue" labelledBy="destination-queue" description="What waits to be sent to it on this process, and the transaction on the wire.">
      <div className="grid compact">
        <div><div className="stat-value" data-testid="pending-pdus">{formatCount(d.pending_pdus)}</div><div className="stat-detail">PDUs in memory</div></div>
        <div><div className="stat-value">{formatCount(d.pending_edus)}</div><div className="stat-detail">EDUs in memory</div></div>
        <div><div className="stat-value">{formatCount(d.pending_to_device)}</div><div className="stat-detail">to-device messages stored</div></div>
        <div><div className="stat-value">{formatCount(d.pending_device_list_updates)}</div><div className="stat-detail">device-list updates stored</div></div>
      </div>
      <h3 className="subheading">In flight</h3>
      {d.in_flight ? (
        <p>Transaction <code>{d.in_flight.txn_id}</code> with {d.in_flight.pdus} PDUs and {d.in_flight.edus} EDUs, sent {formatDuration(serverNow - d.in_flight.started_at)} ago.</p>
      ) : <p className="muted">No transaction in flight.</p>}
      {d.catching_up ? <p><Badge tone="info">catching up</Badge> Sending the newest event of each room it missed, oldest room first.</p> : null}
      <h3 className="subheading">EDUs by type</h3>
      {edus.length === 0 ? <EmptyState title="No EDUs waiting" /> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">EDU type</th><th scope="col" className="num">Waiting</th></tr></thead>
            <tbody>{edus.map(([type, n]) => <tr key={type}><td className="mono">{type}</td><td className="num">{formatCount(n)}</td></tr>)}</tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

const OUTCOME_TONE = { success: "good", failed: "bad", pdu_errors: "warn" } as const;

function TransactionsCard({ destination, serverNow }: { destination: string; serverNow: number }) {
  const trpc = useTRPC();
  const txns = useQuery({ ...trpc.destinations.transactions.queryOptions({ destination, limit: 20 }), refetchInterval: 2000 });
  return (
    <Card title="Recent transactions" labelledBy="destination-transactions" description="The last 20 transactions sent to it, newest first.">
      {txns.isPending ? <LoadingState label="Loading transactions…" /> : txns.isError ? (
        <ErrorState title="Could not load the transactions" error={txns.error} onRetry={() => void txns.refetch()} />
      ) : txns.data.length === 0 ? (
        <EmptyState title="No transactions yet">Transactions appear here once one was sent (or failed).</EmptyState>
      ) : (
        <div className="table-wrap">
          <table data-testid="transactions-table">
            <thead>
              <tr><th scope="col">Sent</th><th scope="col">Transaction</th><th scope="col" className="num">PDUs</th><th scope="col" className="num">EDUs</th><th scope="col">Outcome</th><th scope="col" className="num">Duration</th><th scope="col">Error</th></tr>
            </thead>
            <tbody>
              {txns.data.map((t) => (
                <tr key={`${t.transaction_id}-${t.started_ts}`}>
                  <td title={formatTimestamp(t.started_ts)}>{formatRelative(t.started_ts, serverNow)}</td>
                  <td className="mono">{t.transaction_id}</td>
                  <td className="num">{t.pdu_count}</td>
                  <td className="num">{t.edu_count}</td>
                  <td><Badge tone={OUTCOME_TONE[t.outcome as keyof typeof OUTCOME_TONE] ?? "neutral"}>{t.outcome.replace(/_/g, " ")}</Badge></td>
                  <td className="num">{formatCount(t.duration_ms)} ms</td>
                  <td className="error-cell">{t.error ?? <span className="muted">–</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function RoomsCard({ destination }: { destination: string }) {
  const trpc = useTRPC();
  const [from, setFrom] = useState(0);
  const rooms = useQuery({
    ...trpc.destinations.rooms.queryOptions({ destination, limit: ROOMS_PAGE, ...(from ? { cursor: String(from) } : {}) }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  return (
    <Card title="Rooms shared" labelledBy="destination-rooms" description="Rooms whose events it should receive, with the newest event it should have.">
      {rooms.isPending ? <LoadingState label="Loading rooms…" /> : rooms.isError ? (
        <ErrorState title="Could not load the rooms" error={rooms.error} onRetry={() => void rooms.refetch()} />
      ) : rooms.data.total === 0 ? (
        <EmptyState title="No rooms shared">It is in no room with us: only EDUs (to-device messages, device lists, presence) go to it.</EmptyState>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th scope="col">Room</th><th scope="col" className="num">Newest event to send</th></tr></thead>
              <tbody>
                {rooms.data.rooms.map((r) => (
                  <tr key={r.room_id}>
                    <td className="mono"><Link href={`/rooms/${encodeURIComponent(r.room_id)}`}>{r.room_id}</Link></td>
                    <td className="num">stream position {r.stream_ordering}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of rooms">
            <span>{formatCount(from + 1)}–{formatCount(from + rooms.data.rooms.length)} of {formatCount(rooms.data.total)}</span>
            <button type="button" className="secondary small" disabled={from === 0} onClick={() => setFrom(Math.max(0, from - ROOMS_PAGE))}>Previous page</button>
            <button type="button" className="secondary small" disabled={!rooms.data.next_cursor} onClick={() => setFrom(Number(rooms.data.next_cursor))}>Next page</button>
          </nav>
        </>
      )}
    </Card>
  );
}

const METHOD_LABEL: Record<string, string> = {
  override: "federation_domain_overrides in the config",
  ip_literal: "an IP address literal",
  explicit_port: "a name with an explicit port",
  srv: "an SRV record (_matrix-fed._tcp)",
  legacy_srv: "a legacy SRV record (_matrix._tcp)",
  default_port: "the default port 8448 (no SRV record)",
};

function DiscoveryCard({ destination, serverNow }: { destination: string; serverNow: number }) {
  const trpc = useTRPC();
  const discovery = useQuery(trpc.destinations.discovery.queryOptions({ destination }));
  return (
    <Card title="Discovery" labelledBy="destination-discovery" description="How its server name resolves to the address we connect to (the cached answer when there is one).">
      {discovery.isPending ? <LoadingState label={`Resolving ${destination}…`} /> : discovery.isError ? (
        <ErrorState title="Could not ask how it resolves" error={discovery.error} onRetry={() => void discovery.refetch()} />
      ) : !discovery.data.ok ? (
        <div className="state state-error" role="alert"><strong>The name does not resolve</strong><span>{discovery.data.error}</span></div>
      ) : (
        <div className="stack">
          <KeyValueList
            items={[
              { label: "Resolved by", value: METHOD_LABEL[discovery.data.method] ?? discovery.data.method, testId: "discovery-method" },
              ...(discovery.data.delegated_to ? [{ label: "Delegated to", value: discovery.data.delegated_to, mono: true }] : []),
              { label: "Connects to", value: `${discovery.data.scheme}://${discovery.data.targets.join(", ")}`, mono: true, testId: "discovery-target" },
              { label: "Host header", value: discovery.data.host_header, mono: true },
              ...(discovery.data.scheme === "https" ? [{ label: "TLS name", value: discovery.data.tls_server_name ?? "none (IP literal)", mono: true }] : []),
              {
                label: "Cached until",
                value: discovery.data.cached_until === null ? "not cached (nothing to look up)" : `${formatTimestamp(discovery.data.cached_until)} (${formatRelative(discovery.data.cached_until, serverNow)})`,
              },
            ]}
          />
          <div>
            <h3 className="subheading">Steps</h3>
            <ol className="steps">{discovery.data.steps.map((step, i) => <li key={i} className="mono">{step}</li>)}</ol>
          </div>
        </div>
      )}
    </Card>
  );
}
