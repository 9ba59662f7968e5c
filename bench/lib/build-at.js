// A build of fkd at an older commit, for benches that compare this build with it in one run.
// It is built from git (git archive, this checkout's node_modules, the commit's own build
// script) into bench/out/build-<commit>, once; later runs reuse it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The dist folder of `commit`'s build, or a reason it cannot be built here. */
export function buildAt(root, commit, out) {
  const dir = join(out, `build-${commit}`);
  const dist = join(dir, 'dist');
  if (existsSync(join(dist, 'index.js'))) return { dist };
  try {
    execFileSync('git', ['-C', root, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'ignore' });
  } catch {
    return { reason: `commit ${commit} is not in this checkout's git history (a shallow clone?); fetch it to compare with it` };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git -C "${root}" archive ${commit} | tar -x -C "${dir}"`]);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: dir, stdio: 'inherit' });
  return { dist };
}
