"use client";
/**
 * Live time-series charts on uPlot: a full chart (axes, legend, drag to zoom, reset zoom) and a sparkline. uPlot
 * touches the DOM, so it is loaded in the browser only (dynamic import in an effect) and never during server
 * rendering. The canvas is not readable by assistive technology: callers pass a summary as `label`, and the
 * numbers are also on the page in a table.
 */
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef, useState } from "react";
import type uPlot from "uplot";

export interface ChartSeries {
  /** stable identity of the series (the chart is rebuilt when the set changes) */
  key: string;
  label: string;
  /** one value per timestamp; null leaves a gap */
  values: (number | null)[];
}

const PALETTE = ["#2f6fed", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5c940d"];

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

type UPlotConstructor = typeof uPlot;

/** Loads uPlot once per page. */
let uPlotModule: Promise<UPlotConstructor> | undefined;
function loadUPlot(): Promise<UPlotConstructor> {
  uPlotModule ??= import("uplot").then((m) => m.default);
  return uPlotModule;
}

function alignedData(timestamps: readonly number[], series: readonly ChartSeries[]): uPlot.AlignedData {
  // uPlot's time scale is in seconds
  return [timestamps.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData;
}

/**
 * Builds the chart when uPlot is loaded and whenever the series change identity, keeps it sized to its
 * container, and feeds it new data; `keepScales()` says whether new data must leave the zoom alone.
 */
function useUPlot(
  container: React.RefObject<HTMLDivElement | null>,
  makeOptions: (width: number) => uPlot.Options,
  data: uPlot.AlignedData,
  identity: string,
  keepScales: () => boolean,
): React.RefObject<uPlot | null> {
  const chart = useRef<uPlot | null>(null);
  const latest = useRef({ data, makeOptions });
  latest.current = { data, makeOptions };

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    let cancelled = false;
    let observer: ResizeObserver | undefined;
    void loadUPlot().then((UPlot) => {
      if (cancelled) return;
      const made = new UPlot(latest.current.makeOptions(element.clientWidth || 300), latest.current.data, element);
      chart.current = made;
      observer = new ResizeObserver(() => made.setSize({ width: element.clientWidth || 300, height: made.height }));
      observer.observe(element);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [container, identity]);

  useEffect(() => {
    chart.current?.setData(data, !keepScales());
  }, [data, keepScales]);

  return chart;
}

export function TimeSeriesChart({ timestamps, series, label, formatValue, height = 220, testId }: {
  timestamps: readonly number[];
  series: readonly ChartSeries[];
  /** what the chart shows, for screen readers */
  label: string;
  formatValue: (value: number) => string;
  height?: number;
  testId?: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const [zoomed, setZoomed] = useState(false);
  const zoomedRef = useRef(false);
  zoomedRef.current = zoomed;
  const keepScales = useRef(() => zoomedRef.current).current;
  const data = alignedData(timestamps, series);
  const identity = series.map((s) => s.key).join("\u0000");

  const chart = useUPlot(container, (width) => {
    const text = cssVar("--muted", "#5b6470");
    const grid = cssVar("--border", "#d9dde3");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width,
      height,
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : formatValue(v)),
        })),
      ],
      scales: { x: { time: true }, y: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(1, max * 1.1)] } },
      axes: [axis, { ...axis, size: 70, values: (_u: uPlot, values: number[]) => values.map(formatValue) }],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      hooks: {
        // zoomed when the x scale no longer spans the data (drag-zoom; setData keeps such a scale)
        setScale: [(u: uPlot, key: string) => {
          const xs = u.data[0];
          const { min, max } = u.scales.x!;
          if (key !== "x" || xs.length === 0 || min === undefined || max === undefined) return;
          setZoomed(min > xs[0]! || max < xs[xs.length - 1]!);
        }],
      },
    };
  }, data, identity, keepScales);

  function resetZoom() {
    setZoomed(false);
    const first = timestamps[0];
    const last = timestamps.at(-1);
    if (chart.current && first !== undefined && last !== undefined) chart.current.setScale("x", { min: first / 1000, max: last / 1000 });
  }

  return (
    <figure className="chart" data-testid={testId} data-points={timestamps.length} data-series={series.length}>
      <div className="chart-toolbar">
        <span className="stat-detail">{zoomed ? "Zoomed in: new samples keep the zoom." : "Drag across the chart to zoom in."}</span>
        <button type="button" className="secondary small" onClick={resetZoom} disabled={!zoomed}>Reset zoom</button>
      </div>
      <div ref={container} className="chart-canvas" role="img" aria-label={label} style={{ minHeight: height }} />
    </figure>
  );
}

/** A small trend line without axes or legend (the overview's lag at a glance). */
export function Sparkline({ timestamps, values, label, height = 48, testId }: {
  timestamps: readonly number[];
  values: readonly (number | null)[];
  label: string;
  height?: number;
  testId?: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const data = alignedData(timestamps, [{ key: "v", label, values: [...values] }]);
  const never = useRef(() => false).current;
  useUPlot(container, (width) => ({
    width,
    height,
    series: [{}, { stroke: cssVar("--accent", "#2457c5"), width: 2, fill: "rgba(47, 111, 237, 0.12)", points: { show: false } }],
    scales: { x: { time: true }, y: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ show: false }, { show: false }],
    cursor: { show: false },
    legend: { show: false },
  }), data, "sparkline", never);
  return <div ref={container} className="sparkline" role="img" aria-label={label} data-testid={testId} data-points={timestamps.length} style={{ height }} />;
}
