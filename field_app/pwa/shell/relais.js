// Relais PWA, page side: Flet's configuration, the loading screen, the service worker and
// the channel to the app's Python (which runs in a worker). Built into the site by
// `relais app build`, which fills in __BASE__ and __VERSION__.
"use strict";

var flet = {
  pyodide: true,
  pythonModuleName: "field_app.pwa.boot",
  appPackageUrl: "app.tar?v=__VERSION__",
  pyodideUrl: "__BASE__pyodide/pyodide.mjs",
  canvasKitBaseUrl: "__BASE__canvaskit/",
  fontFallbackBaseUrl: "__BASE__assets/fonts/",
  noCdn: true,
  webRenderer: "canvaskit",
  routeUrlStrategy: "path",
  entrypointBaseUrl: "__BASE__",
  assetBase: "__BASE__",
  webSocketEndpoint: "",
  multiView: false,
  micropipIncludePre: false,
};
flet.flutterAppLoaded = new Promise((resolve) => { flet.flutterAppResolve = resolve; });

var relais = {
  version: "__VERSION__",
  timings: { navigation: performance.timeOrigin },
  // Milliseconds since the epoch, like the app's Python reports them.
  mark(name) { relais.timings[name] = performance.timeOrigin + performance.now(); },
};

(function () {
  const lang = (navigator.language || "fr").slice(0, 2);
  const known = ["fr", "en", "it", "nl"];
  const language = known.includes(lang) ? lang : "fr";
  const words = {
    fr: { loading: "Chargement…", python: "Démarrage…", failed: "Relais n'a pas pu démarrer. Rechargez la page." },
    en: { loading: "Loading…", python: "Starting…", failed: "Relais could not start. Reload the page." },
    it: { loading: "Caricamento…", python: "Avvio…", failed: "Relais non è riuscito ad avviarsi. Ricarica la pagina." },
    nl: { loading: "Laden…", python: "Opstarten…", failed: "Relais kon niet starten. Laad de pagina opnieuw." },
  }[language];
  document.documentElement.lang = language;
  document.getElementById("manifest")?.setAttribute("href", `manifest.${language}.json`);

  function step(text) {
    const el = document.getElementById("loading-step");
    if (el) el.textContent = text;
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("manifest")?.setAttribute("href", `manifest.${language}.json`);
    step(words.loading);
    // A failed Python start must be said, not hidden behind the loading screen.
    const connect = globalThis.jsConnect;
    if (typeof connect === "function") {
      globalThis.jsConnect = async (...args) => {
        try {
          return await connect(...args);
        } catch (error) {
          step(words.failed);
          throw error;
        }
      };
    }
  });
  window.relaisFirstFrame = () => { relais.mark("flutter"); step(words.python); };

  // The app's Python says when it is up (the loading screen goes) and what it measured.
  const channel = new BroadcastChannel("relais");
  channel.onmessage = (event) => {
    const message = event.data || {};
    if (message.type === "mark") {
      relais.timings[message.name] = message.at;
    } else if (message.type === "ready") {
      relais.mark("ready");
      Object.assign(relais.timings, message.timings || {});
      document.getElementById("loading")?.classList.add("gone");
      relais.keepOffline();
    } else if (message.type === "reload") {
      location.reload();
    }
  };

  // The network comes and goes: the app's Python (in a worker) hears it from here.
  for (const [name, online] of [["online", true], ["offline", false]]) {
    window.addEventListener(name, () => channel.postMessage({ type: "network", online }));
  }

  // The service worker stores the whole app for offline starts. Registered once the app is
  // up: its downloads then revalidate what the page has just fetched (304) instead of
  // fetching everything a second time, and they never slow the first start.
  let registered = false;
  relais.keepOffline = () => {
    if (registered || !("serviceWorker" in navigator)) return;
    registered = true;
    navigator.serviceWorker.register("sw.js", { scope: "__BASE__" }).catch((error) => {
      console.warn("Relais: no offline support in this browser", error);
    });
  };
})();
