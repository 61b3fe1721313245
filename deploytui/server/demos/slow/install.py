"""Demo install: about 10 seconds of steady npm-like progress, for watching a deploy live."""

import sys
import time

STEPS = 40
PACKAGES = ["harperdb", "lodash", "express", "sharp", "esbuild", "typescript", "prisma", "@aws-sdk/client-s3"]

print("npm http fetch GET 200 https://registry.npmjs.org/harperdb 44ms (cache hit)")
for step in range(1, STEPS + 1):
    time.sleep(0.25)
    bar = "#" * (step * 20 // STEPS) + "-" * (20 - step * 20 // STEPS)
    package = PACKAGES[step % len(PACKAGES)]
    print(f"[{bar}] {step * 100 // STEPS:3d}% reify:{package}: timing reifyNode:node_modules/{package}")
    if step == STEPS // 2:
        print("npm WARN deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported", file=sys.stderr)
print("")
print(f"added {STEPS * 3} packages, and audited {STEPS * 3 + 1} packages in 10s")
print("")
print("found 0 vulnerabilities")
