/**
 * MetricsAggregator: one shard of the fleet's counters. Isolates send it the deltas of their
 * counters every few seconds (services/metrics/reporter.ts), each report numbered per isolate; the
 * shard adds a report once and remembers the last number it took from each isolate, so a report
 * sent again after a lost acknowledgement is acknowledged without being counted twice.
 *
 * Totals and numbers are written to SQLite in one synchronous transaction before the call
 * returns, and the runtime's output gate holds the answer until the write is durable: a shard that
 * restarts has everything it acknowledged. An alarm forgets isolates silent for a day.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env.ts";

/** One isolate's counter changes since its previous report. */
export interface MetricsReport {
  /** The isolate's random id, for its lifetime. */
  reporter: string;
  /** 1, 2, ... per reporter: a number the shard has taken is acknowledged and ignored. */
  seq: number;
  /** Counter key (lib/metrics.ts) to the change since the previous report. */
  deltas: Record<string, number>;
}

/** How long a silent reporter's last number is kept: an isolate retrying a report after this long gets it counted again. */
export const REPORTER_RETENTION_MS = 24 * 60 * 60_000;

export class MetricsAggregator extends DurableObject<Bindings> {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS totals (key TEXT PRIMARY KEY, value REAL NOT NULL);" +
        "CREATE TABLE IF NOT EXISTS reporters (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, seen_at INTEGER NOT NULL);",
    );
  }

  /**
   * Adds the report's deltas unless this shard has already taken that report; either way it is
   * acknowledged. A malformed one (no sender of this gateway makes one) is refused whole.
   */
  report(report: MetricsReport): { applied: boolean; malformed?: true } {
    if (
      typeof report?.reporter !== "string" ||
      !Number.isSafeInteger(report.seq) ||
      typeof report.deltas !== "object" ||
      report.deltas === null
    ) {
      return { applied: false, malformed: true };
    }
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    const last = sql.exec<{ seq: number }>("SELECT seq FROM reporters WHERE id = ?", report.reporter).toArray()[0];
    if (last !== undefined && last.seq >= report.seq) return { applied: false };
    this.ctx.storage.transactionSync(() => {
      for (const [key, delta] of Object.entries(report.deltas)) {
        if (typeof delta !== "number" || !Number.isFinite(delta)) continue;
        sql.exec(
          "INSERT INTO totals (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
          key,
          delta,
        );
      }
      sql.exec(
        "INSERT INTO reporters (id, seq, seen_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, seen_at = excluded.seen_at",
        report.reporter,
        report.seq,
        now,
      );
    });
    if (last === undefined) void this.#scheduleCleanup(now);
    return { applied: true };
  }

  /** Every total this shard holds. */
  totals(): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const row of this.ctx.storage.sql.exec<{ key: string; value: number }>("SELECT key, value FROM totals"))
      totals[row.key] = row.value;
    return totals;
  }

  async #scheduleCleanup(now: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + REPORTER_RETENTION_MS);
  }

  /** Forgets reporters silent for REPORTER_RETENTION_MS; comes back while any remain. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM reporters WHERE seen_at < ?", now - REPORTER_RETENTION_MS);
    const left = sql.exec<{ n: number }>("SELECT count(*) AS n FROM reporters").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + REPORTER_RETENTION_MS);
  }
}
