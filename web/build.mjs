// Build the browser front end into the Python package (sandbox/web/static), where `sandbox serve`
// serves it (sandbox/api/web.py). Everything the pages load is in that folder: no CDN, no web font.
//
//   node build.mjs            (scripts/install runs it after `npm ci` when web/ changed)
//
// The folder is emptied first, so a file removed from src/ does not linger in the package.
import { build } from "esbuild";
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.SANDBOX_WEB_OUT || join(here, "..", "sandbox", "web", "static");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: {
    playground: join(here, "src", "playground.js"),
    ops: join(here, "src", "ops.js"),
    style: join(here, "src", "style.css"),
  },
  outdir: out,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});
for (const page of ["index.html", "ops.html"]) {
  await copyFile(join(here, "src", page), join(out, page));
}
// The bundles carry code of these packages (MIT and similar): their licence texts ship beside them.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.add(match[1]);
}
const notices = [];
for (const name of [...packages].sort()) {
  const dir = join(here, "node_modules", name);
  const licence = (await readdir(dir)).find((file) => /^licen[cs]e/i.test(file));
  const { version, license } = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const text = licence ? await readFile(join(dir, licence), "utf8") : `(${license})`;
  notices.push(`${name} ${version}\n\n${text.trim()}\n`);
}
await writeFile(join(out, "licenses.txt"), notices.join("\n" + "-".repeat(72) + "\n\n"));
const files = Object.keys(result.metafile.outputs).map((name) => name.slice(name.lastIndexOf("/") + 1));
// What the build made, for `sandbox serve` to tell a complete build from a half-written one.
await writeFile(join(out, "build.json"), JSON.stringify({ files: [...files, "index.html", "ops.html", "licenses.txt"].sort() }, null, 1) + "\n");
console.log(`built ${files.length + 3} files into ${out}`);
