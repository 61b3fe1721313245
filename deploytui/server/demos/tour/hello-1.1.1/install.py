"""Tour install, step 4: hello 1.1.1, the fix: left-pad pinned to a version that exists."""

import time

for line in (
    "npm http fetch GET 200 https://registry.npmjs.org/harperdb 35ms (cache hit)",
    "npm http fetch GET 200 https://registry.npmjs.org/left-pad 48ms",
    "npm http fetch GET 200 https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz 61ms",
    "",
    "added 3 packages, and audited 4 packages in 517ms",
    "",
    "found 0 vulnerabilities",
):
    print(line)
    time.sleep(0.05)
