/**
 * edgegate CLI: manage a gateway's config through its admin API, or KV directly through wrangler.
 * `edgegate --help` lists the commands, `edgegate <command> --help` each one's options; the
 * commands are in scripts/cli/ (main.ts reads the command line). Exit codes: 0 done; 1 the config
 * is invalid, or `diff --exit-code` found changes; 2 usage error or unreadable file; 3 the gateway
 * (or wrangler) could not be reached, refused the token, or failed, or an unexpected error; 4
 * conflict: the config changed since it was read.
 *
 * This file binds the CLI to the process: argv, stdout and stderr, standard input, the exit code.
 * It is also the entry of the bundle that the installed package runs (scripts/cli/build.ts).
 */
import { main } from "./cli/main.ts";

// `edgegate get | head` closes the pipe early: that ends the output, it is not a failure to report.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// A bug that escapes main (a callback, a stray promise) is still one line and exit 3, as main reports it.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (error: unknown) => {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`edgegate: unexpected error: ${what.replace(/\s+/g, " ")}\n`);
    if (process.env.EDGEGATE_DEBUG === "1" && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exit(3);
  });
}

async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) process.stderr.write("edgegate: reading the config from standard input (end it with Ctrl-D)\n");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  readStdin,
});
