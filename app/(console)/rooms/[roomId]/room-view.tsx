"use client";
/** One room: what it is, who is in it and from which servers (the destinations its events go to), and its state. */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Badge, type BadgeTone } from "@/components/badge";
import { Card } from "@/components/card";
import { KeyValueList } from "@/components/key-value-list";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { useTRPC } from "@/components/trpc";

const MEMBERSHIP_TONE: Record<string, BadgeTone> = { join: "good", invite: "info", knock: "info", leave: "neutral", ban: "bad" };

export function RoomView({ roomId }: { roomId: string }) {
  const trpc = useTRPC();
  const room = useQuery({ ...trpc.rooms.get.queryOptions({ room_id: roomId }), refetchInterval: 5000 });
  const health = useQuery(trpc.server.health.queryOptions());
  const back = <Link href="/rooms">All rooms</Link>;
  if (room.isPending) return (<><PageHeader title={roomId} description={back} /><LoadingState label="Loading the room…" /></>);
  if (room.isError) return (<><PageHeader title={roomId} description={back} /><ErrorState title="Could not load the room" error={room.error} onRetry={() => void room.refetch()} /></>);
  const r = room.data;
  const name = r.state.find((s) => s.type === "m.room.name" && s.state_key === "")?.content as { name?: unknown } | undefined;
  const ourServer = health.data?.server_name;
  return (
    <>
      <PageHeader title={typeof name?.name === "string" && name.name ? name.name : r.room_id} description={back} />
      <div className="stack">
        <Card title="Room" labelledBy="room-details">
          <KeyValueList
            items={[
              { label: "Room ID", value: r.room_id, mono: true },
              { label: "Version", value: r.room_version },
              { label: "Creator", value: r.creator, mono: true },
              { label: "Visibility", value: r.is_public ? "public (in the room directory)" : "private" },
              { label: "Forward extremities", value: r.forward_extremities.length === 0 ? "none" : r.forward_extremities.join(", "), mono: true },
            ]}
          />
        </Card>
        <Card title={`Members (${r.members.length})`} labelledBy="room-members">
          {r.members.length === 0 ? <EmptyState title="No members" /> : (
            <div className="table-wrap">
              <table data-testid="members-table">
                <thead><tr><th scope="col">User</th><th scope="col">Membership</th></tr></thead>
                <tbody>
                  {r.members.map((m) => (
                    <tr key={m.user_id}><td className="mono">{m.user_id}</td><td><Badge tone={MEMBERSHIP_TONE[m.membership] ?? "neutral"}>{m.membership}</Badge></td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
        <Card title={`Servers (${r.servers.length})`} labelledBy="room-servers" description="Servers with a joined member: the room's events are sent to each of them but us.">
          {r.servers.length === 0 ? <EmptyState title="No server is joined" /> : (
            <ul className="plain-list" data-testid="servers-list">
              {r.servers.map((s) => (
                <li key={s} className="mono">
                  {s === ourServer ? <>{s} <Badge tone="info">this server</Badge></> : <Link href={`/destinations/${encodeURIComponent(s)}`}>{s}</Link>}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title={`Current state (${r.state.length} events)`} labelledBy="room-state">
          <div className="table-wrap">
            <table>
              <thead><tr><th scope="col">Type</th><th scope="col">State key</th><th scope="col">Sender</th><th scope="col">Event</th></tr></thead>
              <tbody>
                {r.state.map((s) => (
                  <tr key={s.event_id}><td className="mono">{s.type}</td><td className="mono">{s.state_key || <span className="muted">(empty)</span>}</td><td className="mono">{s.sender}</td><td className="mono">{s.event_id}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      </div>
    </>
  );
}
