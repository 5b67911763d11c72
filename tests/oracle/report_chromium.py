#!/usr/bin/python3
"""report_chromium.py - checks one headless-Chromium rendering of a report: the screenshot is a
PNG of the requested size with content (not a blank page), and Chromium's net log shows no
request made by the page. Chromium's own services (component updater: initiator "not an
origin") may try to connect; they are not the page's and the empty network namespace refuses
them. A page's fetch (img, CSS url(), @import, script) carries the page's origin ("null" for
file://) and fails the check.

usage: report_chromium.py NETLOG.json SCREENSHOT.png WIDTH HEIGHT MIN_BYTES
exit 0 when clean; 1 with the offending URLs otherwise."""
import json
import struct
import sys


def page_requests(netlog_path):
    with open(netlog_path) as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page, browser = [], []
    for e in log["events"]:
        p = e.get("params") or {}
        if names.get(e["type"]) != "URL_REQUEST_START_JOB" or "url" not in p:
            continue
        (browser if p.get("initiator") == "not an origin" else page).append(p["url"])
    return page, browser


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def main():
    netlog, png, width, height, min_bytes = sys.argv[1:6]
    page, browser = page_requests(netlog)
    ok = True
    if page:
        ok = False
        print(f"FAIL: the page made {len(page)} network request(s): {page[:5]}")
    w, h = png_size(png)
    if (w, h) != (int(width), int(height)):
        ok = False
        print(f"FAIL: screenshot is {w}x{h}, expected {width}x{height}")
    with open(png, "rb") as f:
        n = len(f.read())
    if n < int(min_bytes):
        ok = False
        print(f"FAIL: screenshot has {n} bytes (< {min_bytes}): a blank page?")
    print(f"{png}: {w}x{h}, {n} bytes; requests from the page: {len(page)}, "
          f"from Chromium's own services (refused offline): {len(browser)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
