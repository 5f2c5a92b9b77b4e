/**
 * /__gateway/admin/config*: read, validate, publish and roll back the config, and edit one route or
 * cluster at a time. Reads come from KV; every write goes through the ConfigPublisher object, which
 * runs publishes one at a time and refuses one whose expected version is no longer current (412),
 * so two admins never overwrite each other's change unseen.
 *
 * Optimistic concurrency uses HTTP preconditions (RFC 9110 section 13.1): the current version is
 * the ETag; a write carries `If-Match: "<version>"`, `If-None-Match: *` for the very first publish,
 * or `If-Match: *` to publish over whatever is current. A write with none of them gets 428.
 *
 * The isolate that carries out a write installs the version it made current before it answers,
 * so its next request is served by it; other isolates see it in KV (docs/operations.md).
 */
import type { Context } from "hono";
import { deploymentValidation } from "../../config/deployment.ts";
import { diffConfigs } from "../../config/diff.ts";
import { deleteCluster, deleteRoute, type EditResult, findCluster, findRoute, putCluster, putRoute } from "../../config/edit.ts";
import { exposureWarnings } from "../../config/exposure.ts";
import { parseConfig } from "../../config/schema.ts";
import { type PublishTicket, snapshotCache } from "../../config/snapshot-cache.ts";
import { readPointer, readVersionDocument } from "../../config/store.ts";
import type { Expectation, PublishAction, PublishOutcome, VersionEntry } from "../../durable-objects/config-publisher.ts";
import { GatewayError } from "../../errors.ts";
import { readUpTo } from "../../lib/bounded-read.ts";
import { NAME, NAME_RULE } from "../../lib/config/fields.ts";
import { type JsonDocumentProblem, parseJsonDocument } from "../../lib/json-document.ts";
import { log } from "../../lib/log.ts";
import type { AppEnv } from "../../variables.ts";

type AdminContext = Context<AppEnv>;

/**
 * Configs are at most 20,000 routes; this leaves room and stays under KV's 25 MiB value limit.
 * Counted in bytes as they arrive, not in characters after decoding.
 */
const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;

/** A config is about 7 levels deep; anything near this bound is not a config. */
const MAX_DOCUMENT_DEPTH = 64;

const BODY_PROBLEMS: Record<JsonDocumentProblem, string> = {
  empty: "The body is empty: send the JSON document.",
  "invalid-utf8": "The body is not valid UTF-8.",
  "too-deep": `The body nests arrays and objects more than ${MAX_DOCUMENT_DEPTH} levels deep.`,
  "invalid-json": "The body is not valid JSON.",
};

const tooLarge = () => new GatewayError("payload-too-large", `The body may be at most ${MAX_DOCUMENT_BYTES} bytes.`);

const etag = (version: string) => `"${version}"`;

function json(c: AdminContext, body: unknown, status: 200 | 201 = 200, version?: string | null): Response {
  const headers: Record<string, string> = { "cache-control": "no-store", "x-request-id": c.get("requestId") };
  if (version) headers.etag = etag(version);
  return c.json(body, status, headers);
}

/**
 * The JSON body of a write, refused before anything is written unless it is declared as JSON, at
 * most MAX_DOCUMENT_BYTES (a declared Content-Length over it is refused unread; a body without one
 * is read only up to it), strict UTF-8, at most MAX_DOCUMENT_DEPTH levels deep, and parseable.
 */
export async function jsonBody(c: AdminContext): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new GatewayError("unsupported-media-type", "Send the body as application/json.");
  }
  // JSON between systems is UTF-8 (RFC 8259 section 8.1): another declared charset is refused, not guessed at.
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new GatewayError("unsupported-media-type", "Send the body as application/json in UTF-8 (charset=utf-8, or no charset).");
  }
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_DOCUMENT_BYTES) throw tooLarge();
  const read = await readUpTo(c.req.raw.body, MAX_DOCUMENT_BYTES);
  if (read.kind === "too-large") throw tooLarge();
  const document = parseJsonDocument(read.bytes, MAX_DOCUMENT_DEPTH);
  if (!document.ok) throw new GatewayError("bad-request", BODY_PROBLEMS[document.problem]);
  return document.value;
}

function jsonObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new GatewayError("bad-request", `The body must be ${what} object.`);
  return value as Record<string, unknown>;
}

/** The caller's expectation from If-Match / If-None-Match; 428 when it sent neither. */
function expectation(c: AdminContext): Expectation {
  const ifMatch = c.req.header("if-match")?.trim();
  const ifNoneMatch = c.req.header("if-none-match")?.trim();
  if (ifMatch === "*") return { kind: "any" };
  if (ifMatch !== undefined) {
    const version = /^(?:W\/)?"([^"]*)"$/.exec(ifMatch)?.[1];
    if (version === undefined)
      throw new GatewayError("bad-request", 'If-Match must be a quoted version, as in If-Match: "20261201T120000Z-1a2b3c4d", or *.');
    return { kind: "version", version };
  }
  if (ifNoneMatch === "*") return { kind: "none" };
  throw new GatewayError(
    "precondition-required",
    'Say which version you changed: If-Match: "<version>" (the ETag of GET /__gateway/admin/config), If-None-Match: * for the first publish, or If-Match: * to publish over any version.',
  );
}

/**
 * KV and the publisher object can fail or time out: that is a 503 the caller may retry, never a
 * 500. After a failed write the outcome is unknown, so the detail says to read the config again.
 */
function stored<T>(work: Promise<T>): Promise<T> {
  return work.catch((error: unknown) => {
    if (error instanceof GatewayError) throw error;
    log({ level: "error", event: "admin.store_failed", error: error instanceof Error ? error.message : String(error) });
    throw new GatewayError(
      "config-unavailable",
      "The config store did not answer. Read the config again before retrying a change: it may or may not have been applied.",
      { "retry-after": "1" },
    );
  });
}

interface Publisher {
  publish(document: unknown, expected: Expectation, action: PublishAction, detail: string | null): Promise<PublishOutcome>;
  rollback(version: string, expected: Expectation): Promise<PublishOutcome>;
  history(): Promise<VersionEntry[]>;
}

function publisher(c: AdminContext): Publisher {
  const namespace = c.env.CONFIG_PUBLISHER;
  if (namespace === undefined) {
    throw new GatewayError("config-unavailable", "The CONFIG_PUBLISHER Durable Object binding is missing: the admin API cannot publish.");
  }
  const stub = namespace.get(namespace.idFromName("config"));
  // RPC types a union result as a union of promises; each call resolves to one outcome.
  return {
    publish: (document, expected, action, detail) => stub.publish(document, expected, action, detail) as unknown as Promise<PublishOutcome>,
    rollback: (version, expected) => stub.rollback(version, expected) as unknown as Promise<PublishOutcome>,
    history: () => stub.history() as unknown as Promise<VersionEntry[]>,
  };
}

/**
 * Installs the version a write made current in this isolate, from its document (a rollback's is
 * read back from KV, where versions never change). Best effort: the write has succeeded whatever
 * happens here, and without it the isolate's next check of KV installs the version anyway.
 */
async function adoptPublished(c: AdminContext, ticket: PublishTicket, outcome: PublishOutcome, document?: unknown): Promise<void> {
  if (outcome.kind !== "published") return;
  const versionDocument = document ?? (await readVersionDocument(c.env.CONFIG, outcome.version).catch(() => null));
  if (versionDocument === null) return;
  snapshotCache.adopt(
    ticket,
    { version: outcome.version, previous: outcome.previous, sequence: outcome.sequence, document: versionDocument },
    deploymentValidation(c.env),
  );
}

function invalid(issues: Array<{ path: string; message: string }>): GatewayError {
  return new GatewayError("invalid-config", `The config has ${issues.length} problem${issues.length === 1 ? "" : "s"}.`, {}, { issues });
}

/** Turns a publisher outcome into the response, or the problem it stands for. */
function published(c: AdminContext, outcome: PublishOutcome, status: 200 | 201 = 201, extra: Record<string, unknown> = {}): Response {
  switch (outcome.kind) {
    case "published":
      return json(
        c,
        { version: outcome.version, previous: outcome.previous, ...extra, warnings: outcome.warnings },
        status,
        outcome.version,
      );
    case "conflict":
      throw new GatewayError(
        "precondition-failed",
        "Another publish changed the config since the version you named; read it again and reapply your change.",
        outcome.current ? { etag: etag(outcome.current) } : {},
        { currentVersion: outcome.current },
      );
    case "invalid":
      throw invalid(outcome.issues);
    case "version-not-found":
      throw new GatewayError("not-found", "No config version of that name is stored.");
  }
}

/** The current version and its document; 404 when nothing was ever published. */
async function current(c: AdminContext): Promise<{ version: string; document: unknown }> {
  const version = await stored(readPointer(c.env.CONFIG));
  const document = version === null ? null : await stored(readVersionDocument(c.env.CONFIG, version));
  if (version === null || document === null) throw new GatewayError("not-found", "No config has been published yet.");
  return { version, document };
}

/** GET /config: the current document as published, its version as the ETag. */
export async function getConfig(c: AdminContext): Promise<Response> {
  const { version, document } = await current(c);
  return json(c, { version, config: document }, 200, version);
}

/** POST /config/validate: a dry run; 200 with a summary, or 422 with every problem's field path. */
export async function validateConfig(c: AdminContext): Promise<Response> {
  const document = await jsonBody(c);
  const parsed = parseConfig(document, deploymentValidation(c.env));
  if (!parsed.ok) throw invalid(parsed.issues);
  let changes = null;
  const version = await stored(readPointer(c.env.CONFIG));
  if (version !== null) changes = diffConfigs(await stored(readVersionDocument(c.env.CONFIG, version)), document);
  return json(c, {
    valid: true,
    routes: parsed.config.routes.length,
    clusters: Object.keys(parsed.config.clusters).length,
    againstVersion: version,
    changes,
    warnings: exposureWarnings(parsed.config),
  });
}

/** PUT /config: publishes a whole document as a new version. */
export async function publishConfigDocument(c: AdminContext): Promise<Response> {
  const expected = expectation(c);
  const document = await jsonBody(c);
  const ticket = snapshotCache.publishTicket();
  const outcome = await stored(publisher(c).publish(document, expected, "publish", null));
  await adoptPublished(c, ticket, outcome, document);
  return published(c, outcome);
}

/** GET /config/versions: what the publisher made current, newest first. */
export async function listVersions(c: AdminContext): Promise<Response> {
  const [history, version] = await stored(Promise.all([publisher(c).history(), readPointer(c.env.CONFIG)]));
  return json(c, { current: version, versions: history }, 200, version);
}

/** GET /config/versions/:version: one stored version's document. */
export async function getVersion(c: AdminContext): Promise<Response> {
  const version = c.req.param("version") ?? "";
  const document = await stored(readVersionDocument(c.env.CONFIG, version));
  if (document === null) throw new GatewayError("not-found", "No config version of that name is stored.");
  return json(c, { version, config: document });
}

/** POST /config/rollback {"version": "..."}: makes an earlier version current again. */
export async function rollback(c: AdminContext): Promise<Response> {
  const expected = expectation(c);
  const body = jsonObject(await jsonBody(c), "a JSON");
  if (typeof body.version !== "string" || body.version === "")
    throw new GatewayError("bad-request", 'The body must name the version: {"version": "..."}.');
  const ticket = snapshotCache.publishTicket();
  const outcome = await stored(publisher(c).rollback(body.version, expected));
  await adoptPublished(c, ticket, outcome);
  return published(c, outcome, 200);
}

type Kind = "route" | "cluster";

const finders = { route: findRoute, cluster: findCluster };

/** GET /config/routes/:id and /config/clusters/:name: one entry of the current config. */
export function getEntry(kind: Kind) {
  return async function getConfigEntry(c: AdminContext): Promise<Response> {
    const name = c.req.param("name") ?? "";
    const { version, document } = await current(c);
    const entry = finders[kind](document, name);
    if (entry === undefined) throw new GatewayError("not-found", `The current config has no ${kind} '${name}'.`);
    return json(c, { version, [kind]: entry }, 200, version);
  };
}

/**
 * PUT and DELETE of one route or cluster: the current document, edited, validated and published as
 * a new version. The expected version is the caller's If-Match, or else the version the edit was
 * made on, so a publish in between makes this one fail (412) instead of being overwritten.
 */
export function editEntry(kind: Kind, operation: "put" | "delete") {
  return async function editConfigEntry(c: AdminContext): Promise<Response> {
    const name = c.req.param("name") ?? "";
    // Refused before anything is read or written: a name the config cannot hold would otherwise be
    // published as a version that drops it.
    if (!NAME.test(name)) throw new GatewayError("bad-request", `A ${kind} ${kind === "route" ? "id" : "name"} ${NAME_RULE}.`);
    const hasPrecondition = c.req.header("if-match") !== undefined || c.req.header("if-none-match") !== undefined;
    const body = operation === "put" ? jsonObject(await jsonBody(c), `a ${kind}`) : null;
    const { version, document } = await current(c);
    const expected: Expectation = hasPrecondition ? expectation(c) : { kind: "version", version };
    let edit: EditResult;
    if (kind === "route") edit = body ? putRoute(document, name, body) : deleteRoute(document, name);
    else edit = body ? putCluster(document, name, body) : deleteCluster(document, name);
    if (edit.kind === "not-found") throw new GatewayError("not-found", `The current config has no ${kind} '${name}'.`);
    if (edit.kind === "not-a-config") throw new GatewayError("config-unavailable", "The current config document is not an object.");
    const ticket = snapshotCache.publishTicket();
    const outcome = await stored(publisher(c).publish(edit.document, expected, "edit", `${operation} ${kind} ${name}`));
    await adoptPublished(c, ticket, outcome, edit.document);
    return published(c, outcome, edit.created ? 201 : 200, { [kind]: name, created: edit.created });
  };
}
