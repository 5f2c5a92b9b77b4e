/**
 * The Prometheus text exposition format (version 0.0.4) of a set of counters keyed as
 * lib/metrics.ts keys them: one `# HELP` and `# TYPE` line per family, then its series. Histogram
 * buckets arrive holding their own bucket only (lib/metrics.ts); here they become cumulative, with
 * every bucket written out (+Inf included) and `_count` derived from them.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import { FAMILIES, familyType, type MetricType } from "./metrics.ts";

/** The Content-Type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A bucket key's `le` label, which histogramKeys puts last. */
const LE_LABEL = /(?:,|\{)le="([^"]*)"\}$/;

interface Histogram {
  /** By the series' labels without `le` ("" for none): the buckets by bound, and the sum. */
  series: Map<string, { buckets: Map<string, number>; sum: number }>;
}

/** A sample value as the format writes it: Go's float syntax, with +Inf, -Inf and NaN spelled out. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => (ch === "\n" ? "\\n" : "\\\\"));
}

function nameOf(key: string): string {
  const brace = key.indexOf("{");
  return brace === -1 ? key : key.slice(0, brace);
}

/** The label part of `key` (`{...}` or ""). */
function labelsOf(key: string): string {
  const brace = key.indexOf("{");
  return brace === -1 ? "" : key.slice(brace);
}

/** `{a="1"}` with `le` appended: `{a="1",le="0.5"}`. */
function withLe(labels: string, le: string): string {
  return labels === "" ? `{le="${le}"}` : `${labels.slice(0, -1)},le="${le}"}`;
}

function boundOf(le: string): number {
  return le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
}

function header(lines: string[], name: string, type: MetricType): void {
  const help = FAMILIES[name]?.help ?? `edgegate ${type} ${name}.`;
  lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
}

/** The counters in the text format, families and series in sorted order. */
export function prometheusText(counters: Readonly<Record<string, number>>): string {
  const histograms = new Map<string, Histogram>();
  const histogramOf = (name: string): Histogram => {
    let histogram = histograms.get(name);
    if (histogram === undefined) {
      histogram = { series: new Map() };
      histograms.set(name, histogram);
    }
    return histogram;
  };
  const seriesOf = (histogram: Histogram, labels: string) => {
    let series = histogram.series.get(labels);
    if (series === undefined) {
      series = { buckets: new Map(), sum: 0 };
      histogram.series.set(labels, series);
    }
    return series;
  };

  // Bucket keys first: they say which names are histograms.
  for (const [key, value] of Object.entries(counters)) {
    const name = nameOf(key);
    const le = LE_LABEL.exec(key);
    if (!name.endsWith("_bucket") || le === null) continue;
    const base = name.slice(0, -"_bucket".length);
    const labels = labelsOf(key.slice(0, le.index) + (le[0].startsWith("{") ? "" : "}"));
    const buckets = seriesOf(histogramOf(base), labels).buckets;
    buckets.set(le[1] as string, (buckets.get(le[1] as string) ?? 0) + value);
  }

  const plain = new Map<string, Array<[labels: string, value: number]>>();
  for (const [key, value] of Object.entries(counters)) {
    const name = nameOf(key);
    if (name.endsWith("_bucket") && histograms.has(name.slice(0, -"_bucket".length))) continue;
    if (name.endsWith("_sum") && (histograms.has(name.slice(0, -4)) || familyType(name.slice(0, -4)) === "histogram")) {
      seriesOf(histogramOf(name.slice(0, -4)), labelsOf(key)).sum += value;
      continue;
    }
    // `_count` is derived from the buckets.
    if (name.endsWith("_count") && (histograms.has(name.slice(0, -6)) || familyType(name.slice(0, -6)) === "histogram")) continue;
    let series = plain.get(name);
    if (series === undefined) {
      series = [];
      plain.set(name, series);
    }
    series.push([labelsOf(key), value]);
  }

  const families = [...new Set([...plain.keys(), ...histograms.keys()])].sort();
  const lines: string[] = [];
  for (const name of families) {
    const histogram = histograms.get(name);
    if (histogram !== undefined) {
      header(lines, name, "histogram");
      // Every series gets every bucket: the family's declared bounds and any bound a series has.
      const les = new Set([...(FAMILIES[name]?.bounds ?? []).map(String), "+Inf"]);
      for (const series of histogram.series.values()) for (const le of series.buckets.keys()) les.add(le);
      const ordered = [...les].sort((a, b) => boundOf(a) - boundOf(b));
      for (const labels of [...histogram.series.keys()].sort()) {
        const { buckets, sum } = histogram.series.get(labels) as { buckets: Map<string, number>; sum: number };
        let cumulative = 0;
        for (const le of ordered) {
          cumulative += buckets.get(le) ?? 0;
          lines.push(`${name}_bucket${withLe(labels, le)} ${formatValue(cumulative)}`);
        }
        lines.push(`${name}_sum${labels} ${formatValue(sum)}`, `${name}_count${labels} ${formatValue(cumulative)}`);
      }
      continue;
    }
    const type = familyType(name);
    header(lines, name, type === "histogram" ? "gauge" : type);
    for (const [labels, value] of (plain.get(name) ?? []).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      lines.push(`${name}${labels} ${formatValue(value)}`);
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
