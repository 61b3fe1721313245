"""Demo install: npm cannot find a dependency (E404) and exits 1."""

import sys
import time

print("npm http fetch GET 200 https://registry.npmjs.org/harperdb 41ms (cache hit)")
time.sleep(0.1)
print("npm http fetch GET 404 https://registry.npmjs.org/@deploytui%2fdoes-not-exist 97ms")
time.sleep(0.1)
for line in (
    "npm ERR! code E404",
    "npm ERR! 404 Not Found - GET https://registry.npmjs.org/@deploytui%2fdoes-not-exist - Not found",
    "npm ERR! 404",
    "npm ERR! 404  '@deploytui/does-not-exist@^1.0.0' is not in this registry.",
    "npm ERR! 404",
    "npm ERR! 404 Note that you can also install from a",
    "npm ERR! 404 tarball, folder, http url, or git url.",
    "",
    "npm ERR! A complete log of this run can be found in:",
    "npm ERR!     /root/.npm/_logs/2025-01-01T00_00_00_000Z-debug-0.log",
):
    print(line, file=sys.stderr)
sys.exit(1)
