/**
 * The benchmark chart: throughput and CPU per request by contender and scenario, as two panels of
 * horizontal bars in one SVG (no dependencies, readable on GitHub).
 */

export interface ChartRow {
  label: string;
  /** Requests per second at saturation (median). */
  rps: number;
  /** CPU microseconds per request (median); NaN where not measured. */
  cpuUs: number;
  /** Drawn in the accent colour: edgegate's own rows. */
  highlight: boolean;
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function panel(rows: ChartRow[], pick: (row: ChartRow) => number, title: string, unit: string, x: number, width: number): string {
  const max = Math.max(...rows.map(pick).filter(Number.isFinite), 1);
  const parts = [`<text x="${x}" y="24" class="title">${escapeXml(title)}</text>`];
  rows.forEach((row, i) => {
    const y = 40 + i * 26;
    const value = pick(row);
    const length = Number.isFinite(value) ? Math.max(1, (value / max) * (width - 70)) : 0;
    parts.push(`<rect x="${x}" y="${y}" width="${length.toFixed(1)}" height="18" class="${row.highlight ? "edgegate" : "peer"}"/>`);
    parts.push(
      `<text x="${(x + length + 6).toFixed(1)}" y="${y + 13}" class="value">${Number.isFinite(value) ? `${value.toFixed(0)} ${unit}` : "n/a"}</text>`,
    );
  });
  return parts.join("\n");
}

const TITLE = "Throughput and CPU per request by contender and scenario";

/** An SVG of both panels; labels on the left, bars scaled to each panel's largest value. */
export function benchmarkChart(rows: ChartRow[], subtitle: string): string {
  const labelWidth = 430;
  const panelWidth = 330;
  const height = 60 + rows.length * 26;
  const labels = rows.map((row, i) => `<text x="${labelWidth - 10}" y="${40 + i * 26 + 13}" class="label">${escapeXml(row.label)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + 2 * panelWidth + 20}" height="${height}" viewBox="0 0 ${labelWidth + 2 * panelWidth + 20} ${height}" role="img" aria-labelledby="chart-title">
<title id="chart-title">${TITLE}</title>
<style>
  text { font: 12px sans-serif; fill: #222; }
  .title { font-weight: bold; font-size: 13px; }
  .label { text-anchor: end; }
  .value { fill: #444; font-size: 11px; }
  .edgegate { fill: #f38020; }
  .peer { fill: #6b7c93; }
  .note { fill: #666; font-size: 11px; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${labels.join("\n")}
${panel(rows, (row) => row.rps, "Throughput at saturation (req/s, higher is better)", "", labelWidth, panelWidth)}
${panel(rows, (row) => row.cpuUs, "CPU per request (us, lower is better)", "", labelWidth + panelWidth + 10, panelWidth)}
<text x="10" y="${height - 8}" class="note">${escapeXml(subtitle)}</text>
</svg>
`;
}
