// The app's Python, in a module worker: Pyodide, then the app and its packages from the app
// archive, then Flet's connection to the page (python.js). Built into the site by
// `relais app build`; the page starts it before Flutter is up.
import { loadPyodide } from "./pyodide/pyodide.mjs";

const fletJs = {}; // Flet's Pyodide connection registers start_connection and send here
const channel = new BroadcastChannel("relais");
let booted = false;

function mark(name) {
  channel.postMessage({ type: "mark", name, at: performance.timeOrigin + performance.now() });
}

self.onmessage = async (event) => {
  if (!booted) {
    booted = true;
    await boot(event.data);
  } else if (typeof fletJs.send === "function") {
    fletJs.send(event.data);
  } else {
    console.error("Relais: a frame for a Python app that did not start");
  }
};

async function boot({ appPackageUrl, documentUrl }) {
  try {
    mark("worker");
    const archive = fetch(appPackageUrl).then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status} for ${appPackageUrl}`);
      return response.arrayBuffer();
    });
    const pyodide = await loadPyodide({
      stdout: (text) => console.log(text),
      stderr: (text) => console.log(`[stderr] ${text}`),
    });
    mark("pyodide");
    pyodide.unpackArchive(await archive, "tar", { extractDir: "/home/pyodide" });
    mark("unpacked");
    pyodide.globals.set("app_package_url", appPackageUrl); // the app reads its version there
    fletJs.documentUrl = documentUrl;
    pyodide.registerJsModule("flet_js", fletJs);
    await pyodide.runPythonAsync(`
import runpy, sys
sys.path.insert(0, "/home/pyodide/__pypackages__")
runpy.run_module("field_app.pwa.boot", run_name="__main__")
`);
    await fletJs.start_connection((message) => {
      const bytes = message.toJs();
      self.postMessage(bytes, [bytes.buffer]);
    });
    self.postMessage("initialized");
  } catch (error) {
    self.postMessage(String(error));
  }
}
