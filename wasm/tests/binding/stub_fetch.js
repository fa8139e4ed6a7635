// A stand-in for globalThis.fetch: answers from a table of canned responses after a delay, and
// records every call (URL, method, redirect mode) and the most requests ever in flight at once.
//
// routes: { [url]: route | route[] } with route = { status?, body?: object | string, headers?,
// type?, bytes? }; an array answers with its routes in turn, repeating the last. A missing URL
// answers 404. `type: 'opaqueredirect'` imitates a browser's opaque redirect; `bytes: n`
// sends an n-byte body in 64 KiB chunks.

let original;

export function installFetch(routes, delayMs) {
  const log = { calls: [], inFlight: 0, maxInFlight: 0 };
  original ??= globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    log.calls.push({
      url: String(url),
      method: init?.method,
      redirect: init?.redirect,
      body: init?.body ? new TextDecoder().decode(init.body) : undefined,
    });
    log.inFlight += 1;
    log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    log.inFlight -= 1;
    const entry = routes[String(url)];
    const route = Array.isArray(entry) ? (entry.length > 1 ? entry.shift() : entry[0]) : entry;
    if (!route) return new Response('not found', { status: 404 });
    if (route.type === 'opaqueredirect') {
      return { type: 'opaqueredirect', status: 0, headers: new Headers(), body: null };
    }
    if (route.bytes !== undefined) return new Response(chunks(route.bytes), { status: 200 });
    const body = typeof route.body === 'string' ? route.body : JSON.stringify(route.body);
    return new Response(body, {
      status: route.status ?? 200,
      headers: route.headers ?? { 'content-type': 'application/json' },
    });
  };
  return log;
}

export function restoreFetch() {
  if (original) globalThis.fetch = original;
}

export function removeFetch() {
  original ??= globalThis.fetch;
  delete globalThis.fetch;
}

function chunks(total) {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(65536, total - sent);
      sent += n;
      controller.enqueue(new Uint8Array(n).fill(120));
    },
  });
}

/** A real `Headers`, to check that host objects are read structurally. */
export function headers(init) {
  return new Headers(init);
}
