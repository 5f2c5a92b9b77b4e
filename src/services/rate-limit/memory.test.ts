import { runLimiterBackendContract } from "./backend.case.ts";
import { MemoryLimiter } from "./memory.ts";

// The reference: the pure algorithms over a Map. Each instance keeps its own counters.
runLimiterBackendContract("memory", (spec) => new MemoryLimiter(spec), { grantsInPart: true, sharedAcrossInstances: false });
