/** Hashing helpers shared by the stores, keys and fingerprints. */

const encoder = new TextEncoder();

/** Lower-case hex SHA-256 of `input` (UTF-8 for a string); only its first `bytes` bytes when given. */
export async function sha256Hex(input: string | Uint8Array<ArrayBuffer>, bytes = 32): Promise<string> {
  const data = typeof input === "string" ? encoder.encode(input) : input;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  let hex = "";
  for (let i = 0; i < bytes; i++) hex += (digest[i] as number).toString(16).padStart(2, "0");
  return hex;
}
