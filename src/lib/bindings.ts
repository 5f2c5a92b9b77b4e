/**
 * Reading a deployment's bindings by a name a config gives: pure, no I/O. A service binding and an
 * mTLS certificate binding are both Fetchers (an object with `fetch`), and the runtime shows no
 * difference between them; secrets, vars, KV and Durable Object namespaces and datasets have no
 * `fetch` method.
 */

/** The binding `name` of `env` when it can send requests (a Fetcher), else null: absent, or of another kind. */
export function fetcherBinding(env: object, name: string): Fetcher | null {
  const value: unknown = (env as Record<string, unknown>)[name];
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function"
    ? (value as Fetcher)
    : null;
}
