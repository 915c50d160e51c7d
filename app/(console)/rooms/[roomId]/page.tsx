import type { Metadata } from "next";
import { decodeSegment } from "@/components/route-segment";
import { RoomView } from "./room-view";

type Params = { params: Promise<{ roomId: string }> };

export async function generateMetadata({ params }: Params): Promise<Metadata> {
  return { title: decodeSegment((await params).roomId) };
}

export default async function RoomPage({ params }: Params) {
  return <RoomView roomId={decodeSegment((await params).roomId)} />;
}
