import { Hono, type MiddlewareHandler } from "hono";
import { describe, expect, it } from "vitest";
import type { CompiledRoute } from "../config/compile.ts";
import type { AppEnv } from "../variables.ts";
import { routeChains, type Stage, stageChain } from "./chain.ts";

/** Answers an error as Hono's app.onError would in the gateway: with the message, status 500. */
const onError = (error: Error) => new Response(`caught: ${error.message}`, { status: 500 });

/** An app whose every request runs `outer`, then `stages` as its chain, as matchRoute runs a route's. */
function appWith(stages: Stage[], outer: MiddlewareHandler<AppEnv> = async (_c, next) => void (await next())) {
  const chain = stageChain(stages, onError);
  const app = new Hono<AppEnv>();
  app.onError(onError);
  app.all("*", outer, (c, next) => chain(c, next));
  return app;
}

describe("a route's stage chain", () => {
  it("runs the stages in order, each around the ones after it", async () => {
    const order: string[] = [];
    const stage =
      (name: string): Stage =>
      async (c, next) => {
        order.push(`${name} in`);
        if (name === "last") c.res = new Response("done");
        else await next();
        order.push(`${name} out`);
      };
    const response = await appWith([stage("a"), stage("b"), stage("last")]).request("/x");
    expect(await response.text()).toBe("done");
    expect(order).toEqual(["a in", "b in", "last in", "last out", "b out", "a out"]);
  });

  it("answers a stage's error where it was thrown, so the stages around it see the answer and the error", async () => {
    const seen: Array<[number, string | undefined]> = [];
    const around: Stage = async (c, next) => {
      await next();
      seen.push([c.res.status, c.error?.message]);
      c.res.headers.set("x-around", "ran");
    };
    const response = await appWith([around, () => Promise.reject(new Error("boom"))]).request("/x");
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("caught: boom");
    expect(response.headers.get("x-around")).toBe("ran");
    expect(seen).toEqual([[500, "boom"]]);
  });

  it("takes a Response a stage returns as the answer", async () => {
    const response = await appWith([async (_c, next) => void (await next()), (c) => Promise.resolve(c.text("returned", 201))]).request(
      "/x",
    );
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("returned");
  });

  it("continues the last stage into the next handler it was given", async () => {
    const chain = stageChain([async (_c, next) => void (await next())], onError);
    const app = new Hono<AppEnv>();
    app.all(
      "*",
      (c, next) => chain(c, next),
      (c) => c.text("after the chain"),
    );
    expect(await (await app.request("/x")).text()).toBe("after the chain");
  });

  it("refuses a stage that calls next twice, as Hono does", async () => {
    const twice: Stage = async (_c, next) => {
      await next();
      await next();
    };
    const response = await appWith([twice, (c) => Promise.resolve(c.text("once"))]).request("/x");
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("caught: next() called multiple times");
  });
});

describe("each route's chain", () => {
  /** A stage that notes its name and goes on; the last one answers with the names noted. */
  const noting =
    (name: string): Stage =>
    async (c, next) => {
      c.header("x-ran", [c.res.headers.get("x-ran"), name].filter(Boolean).join(","));
      await next();
    };
  const answer: Stage = (c) => Promise.resolve(c.text("ok"));
  const routeWith = (early: boolean, late: boolean) => ({ early, late }) as unknown as CompiledRoute;
  const chainFor = routeChains(
    [
      [noting("early"), (route) => (route as unknown as { early: boolean }).early],
      noting("always"),
      [noting("late"), (route) => (route as unknown as { late: boolean }).late],
      answer,
    ],
    onError,
  );
  const ran = async (route: CompiledRoute) => {
    const app = new Hono<AppEnv>();
    app.all("*", (c, next) => chainFor(route)(c, next));
    const response = await app.request("/x");
    expect(await response.text()).toBe("ok");
    return response.headers.get("x-ran");
  };

  it("holds an optional stage only where the route's test holds", async () => {
    expect(await ran(routeWith(false, false))).toBe("always");
    expect(await ran(routeWith(true, false))).toBe("early,always");
    expect(await ran(routeWith(false, true))).toBe("always,late");
    expect(await ran(routeWith(true, true))).toBe("early,always,late");
  });

  it("composes each shape once: routes of one shape share its chain", () => {
    expect(chainFor(routeWith(true, false))).toBe(chainFor(routeWith(true, false)));
    expect(chainFor(routeWith(true, false))).not.toBe(chainFor(routeWith(false, false)));
  });
});
