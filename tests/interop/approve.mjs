#!/usr/bin/env node
// Headless "user" for oidc-provider's devInteractions: signs in (any login/password) and
// consents, the way a person would click through the built-in pages.
//
// Library:
//   approveAuthorization(authorizeUrl, opts) -> final redirect URL (redirect_uri?code=..&state=..&iss=..)
//   approveDevice(issuer, userCode, opts)    -> resolves when the device grant is approved
//   opts: { fetch, jar, login }  fetch: to count or trace requests; jar: a CookieJar to keep
//   the browser session between calls (then login and consent may be skipped); login: the
//   account id to sign in as (default 'interop-user', which becomes the token's `sub`).
//
// CLI:
//   node approve.mjs authorize '<authorize url>'     prints the final redirect URL
//   node approve.mjs device <issuer> <user_code>      prints ok
//
// Every request goes out with `redirect: 'manual'`: the final hop points at the client's
// redirect_uri, which nobody listens on, and the cookies have to be caught on each hop.

import { pathToFileURL } from 'node:url';

// Just enough of a cookie jar for one host: the interaction cookies are path-scoped
// (/interaction/{uid}, /auth/{uid}, /device/{uid}) and get cleared with an expired date.
export class CookieJar {
  #cookies = new Map(); // `${path}\n${name}` -> { name, value, path }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = Object.fromEntries(attrs.map((a) => [a.split('=')[0].toLowerCase(), a.split('=').slice(1).join('=')]));
      const path = attr.path || '/';
      const expired = value === '' || attr['max-age'] === '0' || (attr.expires && Date.parse(attr.expires) <= Date.now());
      if (expired) this.#cookies.delete(`${path}\n${name}`);
      else this.#cookies.set(`${path}\n${name}`, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    const matching = [...this.#cookies.values()].filter(
      (c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`),
    );
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

// One browser hop: send cookies, store cookies, never follow redirects.
async function hop(url, { fetch = globalThis.fetch, jar, form } = {}) {
  const headers = { cookie: jar.header(url) };
  const init = { redirect: 'manual', headers };
  if (form) {
    init.method = 'POST';
    init.body = new URLSearchParams(form);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, init);
  jar.store(res);
  const location = res.headers.get('location');
  return { res, location: location && new URL(location, url).href, body: await res.text() };
}

function field(html, name) {
  return html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];
}

// Follows the AS's redirects and answers its login and consent pages until the flow
// leaves the AS origin (the authorization response) or stops on a page of its own (the
// device flow's success page). Returns { location } or { body }.
async function interact(startUrl, opts, firstForm) {
  const origin = new URL(startUrl).origin;
  let url = startUrl;
  let form = firstForm;
  for (let hops = 0; hops < 20; hops++) {
    const { res, location, body } = await hop(url, { ...opts, form });
    form = undefined;
    if (location) {
      if (new URL(location).origin !== origin) return { location };
      url = location;
      continue;
    }
    if (res.status !== 200) throw new Error(`approve: ${res.status} at ${url}: ${body.slice(0, 300)}`);
    const prompt = new URL(url).pathname.startsWith('/interaction/') && field(body, 'prompt');
    if (prompt === 'login') form = { prompt, login: opts.login ?? 'interop-user', password: 'any' };
    else if (prompt === 'consent') form = { prompt };
    else return { body };
  }
  throw new Error(`approve: too many hops from ${startUrl}`);
}

export async function approveAuthorization(authorizeUrl, opts = {}) {
  const { location, body } = await interact(authorizeUrl, { jar: new CookieJar(), ...opts });
  if (!location) throw new Error(`approve: flow ended on a page, not a redirect: ${body.slice(0, 300)}`);
  return location;
}

export async function approveDevice(issuer, userCode, opts = {}) {
  opts = { jar: new CookieJar(), ...opts };
  const device = `${issuer.replace(/\/$/, '')}/device`;
  // GET the code-entry form (xsrf), POST the code, POST the confirmation (new xsrf);
  // the confirmation redirects into the usual login + consent loop, ending on /device/{uid}.
  const entry = await hop(device, opts);
  const confirmPage = await hop(device, { ...opts, form: { xsrf: field(entry.body, 'xsrf'), user_code: userCode } });
  const xsrf = field(confirmPage.body, 'xsrf');
  if (!field(confirmPage.body, 'confirm')) throw new Error(`approve: user code not accepted: ${confirmPage.body.slice(0, 300)}`);
  const { body } = await interact(device, opts, { xsrf, user_code: userCode, confirm: 'yes' });
  if (!/Sign-in Success/i.test(body ?? '')) throw new Error(`approve: device not approved: ${body?.slice(0, 300)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [cmd, ...args] = process.argv.slice(2);
  try {
    if (cmd === 'authorize' && args.length === 1) console.log(await approveAuthorization(args[0]));
    else if (cmd === 'device' && args.length === 2) await approveDevice(...args).then(() => console.log('ok'));
    else {
      console.error("usage: approve.mjs authorize '<url>' | approve.mjs device <issuer> <user_code>");
      process.exitCode = 2;
    }
  } catch (err) {
    console.error(err.message);
    process.exitCode = 1;
  }
}
