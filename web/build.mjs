// Builds the graph browser into web/dist: src/app.js bundled with cytoscape by esbuild (one
// minified file, no CDN, nothing fetched at run time), index.html and app.css copied.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: ["src/app.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  outfile: "dist/app.js",
  legalComments: "linked",
});
for (const f of ["index.html", "app.css"]) {
  copyFileSync(`src/${f}`, `dist/${f}`);
}
console.log("web/dist built");
