// Relais PWA service worker: keeps the whole app in the browser's cache so that it starts
// with no network. Built by `relais app build`, which fills in the version and the list.
// The API (/api/...) is never cached: it always goes to the network.
"use strict";

const VERSION = "__VERSION__";
const BASE = "__BASE__";
const PRECACHE = __PRECACHE__;
const CACHE = `relais-app-${VERSION}`;
const READY = `${BASE}__offline_ready__`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // Revalidate with the server: the HTTP cache may hold files of an older version.
      await cache.addAll(PRECACHE.map((path) => new Request(BASE + path, { cache: "no-cache" })));
      await cache.put(READY, new Response(VERSION));
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("relais-app-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
      for (const client of await self.clients.matchAll({ includeUncontrolled: true })) {
        client.postMessage({ type: "offline-ready", version: VERSION });
      }
    })()
  );
});

function cacheKey(request) {
  const url = new URL(request.url);
  if (request.mode === "navigate") return BASE; // deep links (/app/notes/…) open the app
  return url.origin + url.pathname; // ignore ?v=…
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith(BASE) || url.pathname === `${BASE}sw.js`) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const key = cacheKey(request);
      const hit = await cache.match(key);
      if (hit) return hit;
      const response = await fetch(request);
      if (response.ok && response.status === 200) await cache.put(key, response.clone());
      return response;
    })()
  );
});
