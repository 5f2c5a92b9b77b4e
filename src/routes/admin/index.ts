/**
 * /__gateway/admin/*: the operator's surface, one sub-app behind the admin token (auth.ts): the
 * status page, metrics, cluster health, and the config lifecycle (validate, publish, versions,
 * rollback, per-entry edits).
 */
import { Hono } from "hono";
import type { AppEnv } from "../../variables.ts";
import { adminAuth } from "./auth.ts";
import { purgeCache } from "./cache.ts";
import { editEntry, getConfig, getEntry, getVersion, listVersions, publishConfigDocument, rollback, validateConfig } from "./config.ts";
import { statusPage } from "./page.ts";
import { clusterStatus, metrics } from "./status.ts";

export const admin = new Hono<AppEnv>();

admin.use(adminAuth);
admin.get("/", statusPage);
admin.get("/metrics", metrics);
admin.get("/clusters/:name", clusterStatus);
admin.post("/cache/purge", purgeCache);
admin.get("/config", getConfig);
admin.put("/config", publishConfigDocument);
admin.post("/config/validate", validateConfig);
admin.get("/config/versions", listVersions);
admin.get("/config/versions/:version", getVersion);
admin.post("/config/rollback", rollback);
admin.get("/config/routes/:name", getEntry("route"));
admin.put("/config/routes/:name", editEntry("route", "put"));
admin.delete("/config/routes/:name", editEntry("route", "delete"));
admin.get("/config/clusters/:name", getEntry("cluster"));
admin.put("/config/clusters/:name", editEntry("cluster", "put"));
admin.delete("/config/clusters/:name", editEntry("cluster", "delete"));
