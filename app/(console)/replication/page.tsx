import type { Metadata } from "next";
import { ReplicationView } from "./replication-view";

export const metadata: Metadata = { title: "Replication" };

export default function ReplicationPage() {
  return <ReplicationView />;
}
