import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

const git = (cwd: string, ...args: string[]) =>
  run("git", ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });

/**
 * This project as git lists it (tracked and untracked, not ignored), node_modules linked, in a
 * fresh repository of its own with one commit, so a test can run a project command there and
 * see what it changed. The caller removes the folder.
 */
export async function copyOfProject(prefix: string): Promise<string> {
  const copy = mkdtempSync(join(tmpdir(), prefix));
  const { stdout } = await git(
    repoRoot,
    "ls-files",
    "-z",
    "--cached",
    "--others",
    "--exclude-standard",
  );
  for (const file of stdout.split("\0")) {
    if (!file || !existsSync(join(repoRoot, file))) continue;
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(repoRoot, file), join(copy, file));
  }
  symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"));
  await git(copy, "init", "-q");
  // A link is not the directory .gitignore's `node_modules/` names.
  writeFileSync(join(copy, ".git", "info", "exclude"), "node_modules\n");
  await git(copy, "add", "-A");
  await git(copy, "commit", "-q", "-m", "kit");
  return copy;
}
