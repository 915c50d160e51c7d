"use client";
/** Keys: the signing keys we publish, and a lookup of the keys we have cached for another server. */
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Badge } from "@/components/badge";
import { Card } from "@/components/card";
import { formatRelative, formatTimestamp } from "@/components/format";
import { KeyValueList } from "@/components/key-value-list";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { useTRPC } from "@/components/trpc";
import { useNow } from "@/components/use-now";

export function KeysView() {
  return (
    <>
      <PageHeader
        title="Keys"
        description={<>The signing key other servers use to verify us (served at <code>/_matrix/key/v2/server</code>), and the keys we hold for them.</>}
      />
      <div className="stack">
        <OwnKeys />
        <RemoteKeys />
      </div>
    </>
  );
}

function OwnKeys() {
  const trpc = useTRPC();
  const own = useQuery(trpc.keys.own.queryOptions());
  const now = useNow();
  return (
    <Card title="Our signing keys" labelledBy="own-keys">
      {own.isPending ? <LoadingState label="Loading our keys…" /> : own.isError ? (
        <ErrorState title="Could not load our keys" error={own.error} onRetry={() => void own.refetch()} />
      ) : (
        <div className="stack">
          <KeyValueList
            items={[
              { label: "Key ID", value: own.data.key_id, mono: true, testId: "own-key-id" },
              { label: "Public key", value: <div className="key-block" data-testid="own-public-key">{own.data.public_key}</div> },
              {
                label: "Served as valid until",
                value: <>{formatTimestamp(own.data.valid_until_ts)} <span className="stat-detail">({formatRelative(own.data.valid_until_ts, now)}; moves forward with every request)</span></>,
              },
            ]}
          />
          <div>
            <h3 style={{ fontSize: "0.95rem", marginBottom: 8 }}>Retired keys</h3>
            {own.data.old_keys.length === 0 ? (
              <EmptyState title="No retired keys">
                Keys listed under <code>old_signing_keys</code> in the config are published here so that old events stay verifiable.
              </EmptyState>
            ) : (
              <div className="table-wrap">
                <table>
                  <thead><tr><th scope="col">Key ID</th><th scope="col">Public key</th><th scope="col">Expired</th></tr></thead>
                  <tbody>
                    {own.data.old_keys.map((k) => (
                      <tr key={k.key_id}>
                        <td className="mono">{k.key_id}</td>
                        <td className="mono">{k.key}</td>
                        <td>{formatTimestamp(k.expired_ts)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        </div>
      )}
    </Card>
  );
}

function RemoteKeys() {
  const [input, setInput] = useState("");
  const [serverName, setServerName] = useState<string | null>(null);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setServerName(input.trim());
  }

  function show(name: string) {
    setInput(name);
    setServerName(name);
  }

  return (
    <Card
      title="Remote server keys"
      labelledBy="remote-keys"
      description="Keys fetched from other servers (directly or through a notary) when their signatures were checked. Looking up here reads the cache only; it does not contact the server."
    >
      <form className="inline-form" onSubmit={submit} role="search" aria-label="Look up a server's cached keys">
        <div className="field">
          <label htmlFor="remote-server-name">Server name</label>
          <input
            id="remote-server-name"
            type="text"
            inputMode="url"
            autoComplete="off"
            spellCheck={false}
            placeholder="matrix.org"
            value={input}
            onChange={(e) => setInput(e.target.value)}
          />
        </div>
        <button type="submit">Look up</button>
      </form>
      <div style={{ marginTop: 16 }} aria-live="polite">
        {serverName === null ? null : <RemoteKeysResult serverName={serverName} />}
      </div>
      <h3 className="subheading">Servers whose keys we hold</h3>
      <CachedServers onShow={show} />
    </Card>
  );
}

function CachedServers({ onShow }: { onShow(serverName: string): void }) {
  const trpc = useTRPC();
  const servers = useQuery({ ...trpc.keys.servers.queryOptions(), refetchInterval: 10_000 });
  const now = useNow();
  if (servers.isPending) return <LoadingState label="Loading the servers with cached keys…" />;
  if (servers.isError) return <ErrorState title="Could not list the cached keys" error={servers.error} onRetry={() => void servers.refetch()} />;
  if (servers.data.length === 0) {
    return <EmptyState title="No remote keys cached yet">Keys are fetched when a signature of another server is first checked (an incoming request or event).</EmptyState>;
  }
  return (
    <div className="table-wrap">
      <table data-testid="cached-servers">
        <thead><tr><th scope="col">Server</th><th scope="col" className="num">Keys</th><th scope="col">Last fetched</th><th scope="col"><span className="visually-hidden">Show</span></th></tr></thead>
        <tbody>
          {servers.data.map((s) => (
            <tr key={s.server_name}>
              <td className="mono">{s.server_name}</td>
              <td className="num">{s.keys}</td>
              <td title={formatTimestamp(s.fetched_ts)}>{formatRelative(s.fetched_ts, now)}</td>
              <td><button type="button" className="secondary small" onClick={() => onShow(s.server_name)}>Show keys<span className="visually-hidden"> of {s.server_name}</span></button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RemoteKeysResult({ serverName }: { serverName: string }) {
  const trpc = useTRPC();
  const remote = useQuery(trpc.keys.remote.queryOptions({ server_name: serverName }));
  const now = useNow();
  if (remote.isPending) return <LoadingState label={`Looking up keys for ${serverName}…`} />;
  if (remote.isError) return <ErrorState title={`Could not look up ${serverName || "that server"}`} error={remote.error} />;
  if (remote.data.keys.length === 0) {
    return (
      <EmptyState title={`No cached keys for ${remote.data.server_name}`}>
        Keys are fetched and cached the first time we verify something signed by this server.
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table data-testid="remote-keys-table">
        <caption className="visually-hidden">Cached keys of {remote.data.server_name}</caption>
        <thead>
          <tr><th scope="col">Key ID</th><th scope="col">Public key</th><th scope="col">Valid until</th><th scope="col">Fetched</th><th scope="col">Source</th></tr>
        </thead>
        <tbody>
          {remote.data.keys.map((k) => (
            <tr key={k.key_id}>
              <td className="mono">{k.key_id}</td>
              <td className="mono">{k.verify_key}</td>
              <td>
                {formatTimestamp(k.valid_until_ts)}{" "}
                {k.valid_until_ts < now ? <Badge tone="warn">expired</Badge> : <Badge tone="good">valid</Badge>}
              </td>
              <td>{formatRelative(k.fetched_ts, now)}</td>
              <td>{k.from_server === remote.data.server_name ? "the server itself" : <>notary <code>{k.from_server}</code></>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
