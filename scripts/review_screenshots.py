"""Screenshots of the reviewer UI over a running demo (for the docs).

    faceverdict demo --password demo-password-123
    faceverdict serve &
    python scripts/review_screenshots.py --base http://127.0.0.1:8080 --out docs/screenshots

Drives Debian's chromium (/usr/bin/chromium) with Playwright; no browser is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def main() -> None:
    """Sign in, screenshot the queue, claim one task, screenshot its case, release it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--user", default="sam")
    parser.add_argument("--password", default="demo-password-123")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--row", type=int, default=3, help="which queue row to open (1 = top)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 960})
        page.goto(f"{args.base}/review/login")
        page.fill('input[name="username"]', args.user)
        page.fill('input[name="password"]', args.password)
        page.click('button:has-text("Sign in")')
        page.wait_for_selector("#tasks")
        page.screenshot(path=str(args.out / "review-queue.png"), full_page=True)
        page.locator("tr.task").nth(args.row - 1).locator("button.claim").click()
        page.wait_for_selector("#case")
        page.wait_for_function(
            "() => { const i = document.getElementById('capture'); "
            "return i && i.complete && i.naturalWidth > 0 }"
        )
        page.wait_for_timeout(300)
        page.screenshot(path=str(args.out / "review-case.png"), full_page=True)
        page.click('button:has-text("Release back to the queue")')
        browser.close()
    print(f"wrote {args.out / 'review-queue.png'} and {args.out / 'review-case.png'}")


if __name__ == "__main__":
    main()
