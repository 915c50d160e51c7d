import type { Metadata } from "next";
import { Suspense } from "react";
import { LoadingState } from "@/components/states";
import { DestinationsView } from "./destinations-view";

export const metadata: Metadata = { title: "Destinations" };

export default function DestinationsPage() {
  // the view reads its filters from the URL (useSearchParams), which needs a Suspense boundary
  return (
    <Suspense fallback={<LoadingState label="Loading destinations…" />}>
      <DestinationsView />
    </Suspense>
  );
}
