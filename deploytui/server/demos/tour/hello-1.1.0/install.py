"""Tour install, step 3: hello 1.1.0 asks for a left-pad version that does not exist (ETARGET), exit 1."""

import sys
import time

print("npm http fetch GET 200 https://registry.npmjs.org/harperdb 36ms (cache hit)")
time.sleep(0.1)
print("npm http fetch GET 200 https://registry.npmjs.org/left-pad 52ms")
time.sleep(0.1)
for line in (
    "npm ERR! code ETARGET",
    "npm ERR! notarget No matching version found for left-pad@^9.0.0.",
    "npm ERR! notarget In most cases you or one of your dependencies are requesting",
    "npm ERR! notarget a package version that doesn't exist.",
    "",
    "npm ERR! A complete log of this run can be found in:",
    "npm ERR!     /root/.npm/_logs/2025-01-01T00_00_00_000Z-debug-0.log",
):
    print(line, file=sys.stderr)
sys.exit(1)
