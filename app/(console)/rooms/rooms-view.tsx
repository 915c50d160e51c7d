"use client";
/** Rooms: the rooms this server knows, with their members and how many of them are joined. */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Badge } from "@/components/badge";
import { Card } from "@/components/card";
import { formatCount } from "@/components/format";
import { PageHeader } from "@/components/page-header";
import { EmptyState, ErrorState, LoadingState } from "@/components/states";
import { useTRPC } from "@/components/trpc";

export function RoomsView() {
  const trpc = useTRPC();
  const rooms = useQuery({ ...trpc.rooms.list.queryOptions(), refetchInterval: 5000 });
  return (
    <>
      <PageHeader title="Rooms" description="Rooms this server is in or was invited to. Open one to see its members and the servers in it." />
      <Card title={rooms.data ? `${formatCount(rooms.data.length)} room${rooms.data.length === 1 ? "" : "s"}` : "Rooms"} labelledBy="rooms-list">
        {rooms.isPending ? <LoadingState label="Loading rooms…" /> : rooms.isError ? (
          <ErrorState title="Could not load the rooms" error={rooms.error} onRetry={() => void rooms.refetch()} />
        ) : rooms.data.length === 0 ? (
          <EmptyState title="No rooms yet">
            Rooms appear when a local user creates or joins one (<code>rooms.create</code> / <code>rooms.join</code> in the console API, or <code>npm run cli -- admin rooms.create {"'{...}'"}</code>), or when one of our users is invited over federation.
          </EmptyState>
        ) : (
          <div className="table-wrap">
            <table data-testid="rooms-table">
              <thead>
                <tr><th scope="col">Room</th><th scope="col">Room ID</th><th scope="col" className="num">Joined members</th><th scope="col">We are</th><th scope="col">Version</th><th scope="col">Visibility</th><th scope="col">Creator</th></tr>
              </thead>
              <tbody>
                {[...rooms.data].sort((a, b) => (a.name ?? a.room_id).localeCompare(b.name ?? b.room_id)).map((r) => (
                  <tr key={r.room_id}>
                    <td><Link href={`/rooms/${encodeURIComponent(r.room_id)}`}>{r.name ?? <em>unnamed</em>}</Link></td>
                    <td className="mono">{r.room_id}</td>
                    <td className="num">{formatCount(r.joined_members)}</td>
                    <td>{r.joined ? <Badge tone="good">joined</Badge> : <Badge tone="neutral">not joined</Badge>}</td>
                    <td>{r.room_version}</td>
                    <td>{r.is_public ? "public" : "private"}</td>
                    <td className="mono">{r.creator}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}
