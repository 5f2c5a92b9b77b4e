// Records the other platforms' optional binaries (workerd, Biome) in package-lock.json.
//
// npm leaves an optional dependency out of the lockfile when the registry it installs from does
// not serve that package (the registry this project is built against carries only the Linux
// builds), and `npm ci` then refuses the lockfile as out of sync. An entry with the exact version
// the parent pins, and the platform it is for, satisfies `npm ci`, which skips it on every other
// platform. Run after `npm install` changes the lockfile: `node scripts/lock-platforms.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;

function platformOf(name) {
  const os = /darwin/.test(name) ? "darwin" : /win32|windows/.test(name) ? "win32" : /android/.test(name) ? "android" : "linux";
  const cpu = /arm64|aarch64/.test(name) ? "arm64" : /ia32/.test(name) ? "ia32" : /arm/.test(name) ? "arm" : "x64";
  return { os: [os], cpu: [cpu], ...(/musl/.test(name) ? { libc: ["musl"] } : {}) };
}

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (!/^\d+\.\d+\.\d+/.test(spec)) continue; // only exact pins can be recorded without the registry
    const hoisted = `node_modules/${name}`;
    const nested = `${path ? `${path}/` : ""}node_modules/${name}`;
    if (packages[hoisted] || packages[nested]) continue;
    packages[hoisted] = { version: spec, dev: entry.dev, optional: true, ...platformOf(name) };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: recorded ${added} optional platform packages`);
