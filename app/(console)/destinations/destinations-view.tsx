"use client";
/**
 * Destinations: every server we send to, paged, sorted, searched and filtered by the server (100,000 rows stay
 * fast), refreshed every second, with live retry countdowns, row actions and bulk retry. The view's state lives
 * in the URL (?q=&state=&sort=&dir=&from=) so a filtered view can be shared and survives a reload.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useId, useMemo, useState } from "react";
import type { DestinationState } from "@/server/federation/sender/destination-status";
import type { DestinationListOrder } from "@/server/store/destination-store";
import { ActionDialog, type ConfirmableAction } from "@/components/action-dialog";
import { useDestinationActions } from "@/components/destination-actions";
import { DestinationStateBadge, STATE_HELP, STATE_LABEL, STATES_BY_URGENCY, describeLastError } from "@/components/destination-state";
import { formatCount, formatCountdown, formatDuration, formatTimestamp } from "@/components/format";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { useTRPC, type RouterOutputs } from "@/components/trpc";
import { useNow } from "@/components/use-now";

const PAGE_SIZE = 50;
type Row = RouterOutputs["destinations"]["list"]["destinations"][number];

interface Column {
  label: string;
  /** read before the label by screen readers, where the short label needs it */
  hiddenPrefix?: string;
  /** the server-side sort behind the header */
  sort: DestinationListOrder;
  /** the first direction of a click: largest or latest first for sizes and errors */
  firstDir?: "f" | "b";
}

const COLUMNS: Column[] = [
  { label: "Destination", sort: "destination" },
  { label: "State", sort: "state" },
  { label: "Next retry", sort: "next_retry_ts" },
  { label: "Interval", hiddenPrefix: "Retry ", sort: "retry_interval", firstDir: "b" },
  { label: "Failing since", sort: "failure_ts" },
  { label: "Last success", sort: "last_success_ts", firstDir: "b" },
  { label: "PDUs", hiddenPrefix: "Pending ", sort: "pending_pdus", firstDir: "b" },
  { label: "EDUs", hiddenPrefix: "Pending ", sort: "pending_edus", firstDir: "b" },
  { label: "In flight", sort: "in_flight_since" },
  { label: "Last error", sort: "last_error_ts", firstDir: "b" },
];

const ORDERS = new Set<string>(COLUMNS.map((c) => c.sort));

interface ViewParams {
  search: string;
  state: DestinationState | undefined;
  sort: DestinationListOrder;
  dir: "f" | "b";
  from: number;
}

function readParams(params: URLSearchParams): ViewParams {
  const state = params.get("state");
  const sort = params.get("sort");
  const from = Number(params.get("from") ?? 0);
  return {
    search: params.get("q") ?? "",
    state: STATES_BY_URGENCY.includes(state as DestinationState) ? (state as DestinationState) : undefined,
    sort: sort && ORDERS.has(sort) ? (sort as DestinationListOrder) : "state",
    dir: params.get("dir") === "b" ? "b" : "f",
    from: Number.isInteger(from) && from > 0 ? from : 0,
  };
}

function writeParams(p: ViewParams): string {
  const q = new URLSearchParams();
  if (p.search) q.set("q", p.search);
  if (p.state) q.set("state", p.state);
  if (p.sort !== "state") q.set("sort", p.sort);
  if (p.dir !== "f") q.set("dir", p.dir);
  if (p.from > 0) q.set("from", String(p.from));
  const text = q.toString();
  return text ? `?${text}` : "";
}

export function DestinationsView() {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const params = readParams(useSearchParams());
  const [searchInput, setSearchInput] = useState(params.search);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [action, setAction] = useState<ConfirmableAction | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const actions = useDestinationActions();
  const now = useNow();

  const navigate = (next: Partial<ViewParams>) => {
    const merged = { ...params, ...next };
    router.replace(`${pathname}${writeParams(merged)}`, { scroll: false });
  };

  // the search box filters as you type, a moment after the last key
  useEffect(() => {
    if (searchInput.trim() === params.search) return;
    const timer = setTimeout(() => navigate({ search: searchInput.trim(), from: 0 }), 300);
    return () => clearTimeout(timer);
  });

  const input = { search: params.search || undefined, state: params.state, order_by: params.sort, dir: params.dir, limit: PAGE_SIZE, ...(params.from ? { cursor: String(params.from) } : {}) };
  const list = useQuery({ ...trpc.destinations.list.queryOptions(input), placeholderData: keepPreviousData, refetchInterval: 1000 });

  // the server's clock, carried forward by ours since the answer came: countdowns do not depend on the browser's clock
  const serverNow = list.data ? list.data.now + Math.max(0, now - list.dataUpdatedAt) : now;
  const rows = list.data?.destinations ?? [];
  const visibleSelection = useMemo(() => rows.filter((r) => selected.has(r.destination)).map((r) => r.destination), [rows, selected]);

  function sortBy(column: Column) {
    const dir = params.sort === column.sort ? (params.dir === "f" ? "b" : "f") : (column.firstDir ?? "f");
    navigate({ sort: column.sort, dir, from: 0 });
  }

  function toggle(destination: string, on: boolean) {
    setSelected((current) => {
      const next = new Set(current);
      if (on) next.add(destination);
      else next.delete(destination);
      return next;
    });
  }

  const total = list.data?.total ?? 0;
  const counts = list.data?.counts;
  const allCount = counts ? STATES_BY_URGENCY.reduce((n, s) => n + counts[s], 0) : undefined;

  return (
    <>
      <PageHeader
        title="Destinations"
        description="The servers we send to: why each is not sending, when it will try again, and what is waiting for it. Refreshed every second."
      />

      <section className="card" aria-label="Find destinations">
        <div className="toolbar">
          <div className="field toolbar-search">
            <label htmlFor="destination-search">Search destinations</label>
            <input
              id="destination-search"
              type="search"
              autoComplete="off"
              spellCheck={false}
              placeholder="part of a server name"
              value={searchInput}
              onChange={(e) => setSearchInput(e.target.value)}
            />
          </div>
          <fieldset className="state-filter">
            <legend>State</legend>
            <StateChoice id="all" label="All" count={allCount} checked={params.state === undefined} onSelect={() => navigate({ state: undefined, from: 0 })} />
            {STATES_BY_URGENCY.map((s) => (
              <StateChoice key={s} id={s} label={STATE_LABEL[s]} title={STATE_HELP[s]} count={counts?.[s]} checked={params.state === s} onSelect={() => navigate({ state: s, from: 0 })} />
            ))}
          </fieldset>
        </div>
      </section>

      <div className="status-line" role="status" aria-live="polite">{outcome}</div>

      <section className="card" aria-labelledby="destinations-table-title">
        <div className="card-header">
          <h2 id="destinations-table-title">
            {list.data ? `${formatCount(total)} destination${total === 1 ? "" : "s"}` : "Destinations"}
            {params.state ? ` ${STATE_LABEL[params.state]}` : ""}
            {params.search ? ` matching “${params.search}”` : ""}
          </h2>
          <div className="bulk-actions">
            <button
              type="button"
              className="secondary"
              disabled={visibleSelection.length === 0}
              onClick={() => setAction(actions.retryMany({ destinations: visibleSelection }))}
            >
              Retry selected ({visibleSelection.length})
            </button>
            <button
              type="button"
              className="secondary"
              disabled={!list.data || total === 0}
              onClick={() => setAction(actions.retryMany({ state: params.state, search: params.search || undefined, matching: total }))}
            >
              Retry all {list.data ? formatCount(total) : ""} shown by the filter
            </button>
          </div>
        </div>

        {list.isPending ? <LoadingState label="Loading destinations…" /> : list.isError && !list.data ? (
          <ErrorState title="Could not load the destinations" error={list.error} onRetry={() => void list.refetch()} />
        ) : rows.length === 0 ? (
          <EmptyState title={params.search || params.state ? "No destination matches" : "No destinations yet"}>
            {params.search || params.state
              ? "Clear the search or pick another state."
              : "A destination appears once we send it something: a room shared with one of its users, a to-device message or a device list update."}
          </EmptyState>
        ) : (
          <>
            {list.isError ? <p className="alert alert-error" role="alert">Refreshing failed: {list.error.message}. Showing the last answer.</p> : null}
            <div className="table-wrap">
              <table className="data-table" data-testid="destinations-table" aria-busy={list.isFetching && list.isPlaceholderData}>
                <caption className="visually-hidden">Destinations, sorted by {sortedBy(params.sort)} {params.dir === "f" ? "ascending" : "descending"}</caption>
                <thead>
                  <tr>
                    <th scope="col"><span className="visually-hidden">Select</span></th>
                    {COLUMNS.map((c) => (
                      <th
                        key={c.label}
                        scope="col"
                        aria-sort={params.sort === c.sort ? (params.dir === "f" ? "ascending" : "descending") : undefined}
                      >
                        <button type="button" className="sort-button" onClick={() => sortBy(c)}>
                          {c.hiddenPrefix ? <span className="visually-hidden">{c.hiddenPrefix}</span> : null}{c.label}
                          <span aria-hidden="true" className="sort-mark">{params.sort === c.sort ? (params.dir === "f" ? "▲" : "▼") : ""}</span>
                        </button>
                      </th>
                    ))}
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <DestinationRow
                      key={row.destination}
                      row={row}
                      serverNow={serverNow}
                      selected={selected.has(row.destination)}
                      onSelect={(on) => toggle(row.destination, on)}
                      onRetry={() => setAction(actions.retryNow(row.destination))}
                      onReset={() => setAction(actions.reset(row.destination))}
                    />
                  ))}
                </tbody>
              </table>
            </div>
            <Pager from={params.from} shown={rows.length} total={total} onPage={(from) => navigate({ from })} />
          </>
        )}
      </section>

      <ActionDialog
        action={action}
        onClose={() => setAction(null)}
        onDone={(message) => {
          setOutcome(message);
          setSelected(new Set());
        }}
      />
    </>
  );
}

function sortedBy(sort: DestinationListOrder): string {
  const column = COLUMNS.find((c) => c.sort === sort)!;
  return `${column.hiddenPrefix ?? ""}${column.label}`.toLowerCase();
}

function StateChoice({ id, label, count, checked, onSelect, title }: {
  id: string;
  label: string;
  count: number | undefined;
  checked: boolean;
  onSelect(): void;
  title?: string;
}) {
  const inputId = `state-${id}`;
  return (
    <span className="state-choice" title={title}>
      <input type="radio" id={inputId} name="state" checked={checked} onChange={onSelect} />
      <label htmlFor={inputId}>
        {label} <span className="count">{count === undefined ? "" : formatCount(count)}</span>
      </label>
    </span>
  );
}

function DestinationRow({ row, serverNow, selected, onSelect, onRetry, onReset }: {
  row: Row;
  serverNow: number;
  selected: boolean;
  onSelect(on: boolean): void;
  onRetry(): void;
  onReset(): void;
}) {
  const checkboxId = useId();
  const href = `/destinations/${encodeURIComponent(row.destination)}`;
  const failing = row.retry_last_ts > 0 || row.failure_ts !== null;
  return (
    <tr data-destination={row.destination} data-state={row.state}>
      <td>
        <input id={checkboxId} type="checkbox" checked={selected} onChange={(e) => onSelect(e.target.checked)} />
        <label htmlFor={checkboxId} className="visually-hidden">Select {row.destination}</label>
      </td>
      <td className="mono"><Link href={href}>{row.destination}</Link></td>
      <td><DestinationStateBadge state={row.state} /></td>
      <td data-testid="next-retry">
        {row.next_retry_ts === null ? <span className="muted">–</span> : (
          <span className="countdown" title={`at ${formatTimestamp(row.next_retry_ts)}`}>{formatCountdown(row.next_retry_ts - serverNow)}</span>
        )}
      </td>
      <td>{row.retry_interval > 0 ? formatDuration(row.retry_interval) : <span className="muted">–</span>}</td>
      <td>{row.failure_ts === null ? <span className="muted">–</span> : <span title={formatTimestamp(row.failure_ts)}>{formatDuration(serverNow - row.failure_ts)} ago</span>}</td>
      <td>{row.last_success_ts === null ? <span className="muted">–</span> : <span title={formatTimestamp(row.last_success_ts)}>{formatDuration(serverNow - row.last_success_ts)} ago</span>}</td>
      <td className="num">{formatCount(row.pending_pdus)}</td>
      <td className="num">{formatCount(row.pending_edus)}</td>
      <td>{row.in_flight ? <span title={`transaction ${row.in_flight.txn_id}: ${row.in_flight.pdus} PDUs, ${row.in_flight.edus} EDUs`}>{formatDuration(serverNow - row.in_flight.started_at)}</span> : <span className="muted">–</span>}</td>
      <td className="error-cell">{row.last_error ? <span title={formatTimestamp(row.last_error.at)}>{describeLastError(row.last_error)}</span> : <span className="muted">–</span>}</td>
      <td className="row-actions">
        <button type="button" className="secondary small" onClick={onRetry}>
          Retry now<span className="visually-hidden"> {row.destination}</span>
        </button>
        <button type="button" className="secondary small" onClick={onReset} disabled={!failing} title={failing ? undefined : "not failing: nothing to reset"}>
          Reset<span className="visually-hidden"> {row.destination}</span>
        </button>
      </td>
    </tr>
  );
}

function Pager({ from, shown, total, onPage }: { from: number; shown: number; total: number; onPage(from: number): void }) {
  return (
    <nav className="pager" aria-label="Pages of destinations">
      <span>{shown === 0 ? "None" : `${formatCount(from + 1)}–${formatCount(from + shown)} of ${formatCount(total)}`}</span>
      <button type="button" className="secondary small" disabled={from === 0} onClick={() => onPage(Math.max(0, from - PAGE_SIZE))}>Previous page</button>
      <button type="button" className="secondary small" disabled={from + shown >= total} onClick={() => onPage(from + PAGE_SIZE)}>Next page</button>
    </nav>
  );
}
