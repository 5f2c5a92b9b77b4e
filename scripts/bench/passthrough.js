// The floor for this runtime: a Worker that forwards every request to the origin unchanged.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, request);
  },
};
