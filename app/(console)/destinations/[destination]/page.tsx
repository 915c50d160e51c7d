import type { Metadata } from "next";
import { decodeSegment } from "@/components/route-segment";
import { DestinationView } from "./destination-view";

type Params = { params: Promise<{ destination: string }> };

export async function generateMetadata({ params }: Params): Promise<Metadata> {
  return { title: decodeSegment((await params).destination) };
}

export default async function DestinationPage({ params }: Params) {
  return <DestinationView destination={decodeSegment((await params).destination)} />;
}
