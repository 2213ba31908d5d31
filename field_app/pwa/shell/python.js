// The app's Python, started in a worker as soon as the page loads: Pyodide and the app's
// imports run while Flutter starts, instead of after it. Flutter connects to that worker
// when it is ready (jsConnect, jsSend and jsDisconnect are what Flet's web client calls).
"use strict";

(() => {
  const worker = new Worker("python-worker.js", { type: "module" });
  let toFlutter = null;
  const early = []; // frames the app sends before Flutter listens
  let started;
  const ready = new Promise((resolve, reject) => (started = { resolve, reject }));

  worker.onmessage = (event) => {
    const data = event.data;
    if (typeof data === "string") {
      if (data === "initialized") started.resolve();
      else started.reject(new Error(data));
    } else if (toFlutter) {
      toFlutter(data);
    } else {
      early.push(data);
    }
  };
  worker.postMessage({
    appPackageUrl: new URL(flet.appPackageUrl, document.baseURI).href,
    documentUrl: document.URL,
  });

  globalThis.jsConnect = async (_appId, _args, dartOnMessage) => {
    relais.mark("connect");
    toFlutter = dartOnMessage;
    for (const frame of early.splice(0)) dartOnMessage(frame);
    await ready;
  };
  globalThis.jsSend = async (_appId, data) => {
    worker.postMessage(data, [data.buffer]);
  };
  globalThis.jsDisconnect = async () => {
    worker.terminate();
  };
})();
