"""The reviewer UI in real headless Chromium (Debian's package, driven by Playwright).

Sign in, claim, reveal and redact the background, toggle heatmaps, decide with keyboard
shortcuts, and check the final decision; then a double review whose two verdicts disagree
and a senior who settles it. Screenshots of the queue and case pages are kept under
``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from faceverdict.domain.review import Role
from faceverdict.entrypoints.api.app import create_app
from faceverdict.wiring.bootstrap import Application
from tests.support.browser import CHROMIUM_FLAGS, ensure_chromium, live_server, screenshot_path
from tests.support.review import PASSWORD
from tests.support.review_app import face, full_application, submit

pytestmark = pytest.mark.browser

# Mean absolute difference between neighbouring pixels in the top-left corner (background):
# high for the real capture's texture, near zero once pixelated and blurred.
SHARPNESS_JS = """(img) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, 90, 90).data;
  let sum = 0, n = 0;
  for (let y = 0; y < 90; y++) for (let x = 1; x < 90; x++) {
    const i = (y * 90 + x) * 4, j = i - 4;
    sum += Math.abs(d[i] - d[j]) + Math.abs(d[i + 1] - d[j + 1]) + Math.abs(d[i + 2] - d[j + 2]);
    n += 3;
  }
  return sum / n;
}"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    path = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def seed(application: Application) -> dict[str, str]:
    """Checks through the real check path: two junior tasks, a senior one, one accepted."""
    ids = {
        "payment": submit(application, face(1), "payment", "c-1", liveness_score=0.2),
        "onboarding": submit(application, face(2), "onboarding", "c-2", liveness_score=0.25),
        "senior": submit(
            application,
            face(3, generated=True),
            "onboarding",
            "c-3",
            liveness_score=0.05,
            device_risk=0.95,
            document_match_score=0.1,
        ),
        "accepted": submit(application, face(4), "onboarding", "c-4", liveness_score=0.97),
    }
    return {name: check.check_id for name, check in ids.items()}


def accounts(application: Application, *names: tuple[str, Role]) -> None:
    assert application.review is not None
    for name, role in names:
        application.review.accounts.create(name, PASSWORD, role, name.title())


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/review/")
    page.wait_for_url("**/review/login**")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button:has-text("Sign in")')
    page.wait_for_selector("#tasks")


def wait_image(page: Any, selector: str = "#capture") -> None:
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); "
        "return i && i.complete && i.naturalWidth > 0 }",
        arg=selector,
    )


def sharpness(page: Any) -> float:
    value: float = page.eval_on_selector("#capture", SHARPNESS_JS)
    return value


def test_reviewer_claims_reveals_redacts_and_decides(chromium: Any, tmp_path: Path) -> None:
    application = full_application(  # no random audit or second-review task
        tmp_path, audit_fraction=0.0, double_review_fraction=0.0
    )
    review = application.review
    assert review is not None
    ids = seed(application)
    accounts(application, ("alice", Role.REVIEWER))
    with live_server(create_app(application)) as base:
        context = chromium.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
        sign_in(page, base, "alice")

        # queue: priority, flow, age, time left; the high-risk task is not shown to a junior
        rows = page.locator("tr.task")
        assert rows.count() == 2
        first = rows.nth(0).inner_text().lower()
        assert "high" in first
        assert "payment" in first
        assert "min left" in rows.nth(0).locator("td.sla").inner_text()
        page.select_option('select[name="flow"]', "onboarding")
        page.click('button:has-text("Filter")')
        page.wait_for_url("**flow=onboarding**")
        assert page.locator("tr.task").count() == 1
        page.goto(f"{base}/review/")
        page.screenshot(path=str(screenshot_path("queue.png")), full_page=True)

        # claim the most urgent task with the keyboard shortcut
        page.keyboard.press("n")
        page.wait_for_selector("#case")
        assert ids["payment"] in page.inner_text("h1")
        wait_image(page)
        redacted = sharpness(page)
        assert page.inner_text("#redaction-state") == "redacted"
        assert "view=redacted" in (page.get_attribute("#capture", "src") or "")
        assert "The client's liveness check scored low." in page.inner_text("#decision")
        assert "Illustrative heatmap" in page.inner_text("#detectors")
        assert "Liveness" in page.inner_text("#signals")
        assert "Review task queued" in page.inner_text("#timeline")

        # heatmap overlay on, off (H), on again (label click)
        # (the demo illustration, and the blending detector's own boundary map)
        overlays = page.locator("img.heatmap")
        assert overlays.count() == 2
        assert page.locator('img.heatmap[data-detector="blending"]').count() == 1
        overlay = page.locator('img.heatmap[data-detector="demo_illustration"]')
        wait_image(page, 'img.heatmap[data-detector="demo_illustration"]')
        assert overlay.is_visible()
        page.screenshot(path=str(screenshot_path("case.png")), full_page=True)
        page.keyboard.press("h")
        assert not overlay.is_visible()
        assert not overlays.nth(0).is_visible()
        page.click('label.hm-label[data-detector="demo_illustration"]')
        assert overlay.is_visible()

        # reveal the background: an explicit, logged action; then redact with R
        page.click("#reveal")
        expect(page.locator("#redaction-state")).to_have_text("revealed")
        expect(page.locator("#capture")).to_have_attribute("src", re.compile("view=original"))
        wait_image(page)
        revealed = sharpness(page)
        assert revealed > 3 * max(redacted, 0.1), (redacted, revealed)
        page.screenshot(path=str(screenshot_path("case-revealed.png")), full_page=True)
        page.keyboard.press("r")
        expect(page.locator("#redaction-state")).to_have_text("redacted")
        expect(page.locator("#capture")).to_have_attribute("src", re.compile("view=redacted"))
        wait_image(page)
        assert sharpness(page) < revealed / 3
        events = review.service.audit.events(check_id=ids["payment"])
        alice = review.accounts.reviewers.reviewer_by_username("alice")
        assert alice is not None
        assert [e.kind for e in events if e.kind in ("capture_revealed", "capture_redacted")] == [
            "capture_revealed",
            "capture_redacted",
        ]
        assert all(e.actor == alice.reviewer_id for e in events if e.kind.startswith("capture_"))

        # verdict by keyboard: F (fake), 1 (face swap), Ctrl+Enter
        page.keyboard.press("f")
        page.keyboard.press("Escape")
        page.keyboard.press("1")
        assert page.input_value("#attack-type") == "face_swap"
        assert page.is_checked('input[name="label"][value="fake"]')
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#result")
        assert page.inner_text("#final-action") == "reject"
        decision_id = page.inner_text("#final-decision-id")

        # the final decision, as the client pipeline reads it from the API
        api = context.request.get(f"{base}/v1/checks/{ids['payment']}")
        assert api.ok
        final = api.json()
        assert final["decision_id"] == decision_id
        assert (final["action"], final["final"]) == ("reject", True)
        assert final["reasons"] == ["REVIEW_FAKE", "ATTACK_FACE_SWAP"]
        assert [d["stage"] for d in final["decisions"]] == ["inline", "review"]
        assert errors == []
        context.close()
    application.close()


def test_double_review_disagreement_goes_to_a_senior(chromium: Any, tmp_path: Path) -> None:
    application = full_application(tmp_path, double_review_fraction=1.0, audit_fraction=0.0)
    check_id = submit(application, face(5), "onboarding", "c-5", liveness_score=0.2).check_id
    accounts(application, ("alice", Role.REVIEWER), ("bob", Role.REVIEWER), ("sam", Role.SENIOR))
    with live_server(create_app(application)) as base:
        pages = {}
        for name in ("alice", "bob", "sam"):
            context = chromium.new_context(viewport={"width": 1440, "height": 1000})
            pages[name] = context.new_page()
            sign_in(pages[name], base, name)

        # alice: genuine, by clicking
        alice = pages["alice"]
        alice.click("#claim-next")
        alice.wait_for_selector("#verdict-form")
        alice.check('input[name="label"][value="genuine"]')
        alice.click("#submit-verdict")
        alice.wait_for_selector("#result")
        assert "independent second reviewer" in alice.inner_text("#outcome")
        pending = application.checks.get(check_id)
        assert pending.current_decision is not None
        assert pending.current_decision.stage == "inline"  # the decision waits
        # alice may not take the second look herself
        alice.goto(f"{base}/review/")
        assert alice.locator("button.claim").count() == 0

        # bob: a blind second review, fake (presentation attack)
        bob = pages["bob"]
        bob.goto(f"{base}/review/")
        assert "Independent second review" in bob.inner_text("#tasks")
        bob.click("#claim-next")
        bob.wait_for_selector("#verdict-form")
        assert bob.locator("text=Verdicts so far").count() == 0
        assert "label" not in bob.inner_text("#timeline")  # the first verdict stays hidden
        bob.check('input[name="label"][value="fake"]')
        bob.select_option("#attack-type", "presentation_attack")
        bob.click("#submit-verdict")
        bob.wait_for_selector("#result")
        assert "senior" in bob.inner_text("#outcome")

        # sam: adjudicates with both verdicts in view
        sam = pages["sam"]
        sam.goto(f"{base}/review/")
        assert "Two reviewers disagreed" in sam.inner_text("#tasks")
        assert "high" in sam.inner_text("#tasks").lower()  # normal, one level up
        sam.click("#claim-next")
        sam.wait_for_selector("#verdict-form")
        wait_image(sam)
        seen = sam.inner_text("text=Verdicts so far >> xpath=..")
        assert "genuine" in seen
        assert "fake" in seen
        assert "Presentation attack" in seen
        sam.screenshot(path=str(screenshot_path("case-adjudication.png")), full_page=True)
        sam.check('input[name="label"][value="fake"]')
        sam.select_option("#attack-type", "presentation_attack")
        sam.fill("#note", "screen moiré visible around the face")
        sam.click("#submit-verdict")
        sam.wait_for_selector("#result")
        assert sam.inner_text("#final-action") == "reject"

        settled = application.checks.get(check_id)
        assert settled.current_decision is not None
        assert settled.current_decision.stage == "review"
        assert settled.current_decision.reasons == ("REVIEW_FAKE", "ATTACK_PRESENTATION_ATTACK")

        sam.goto(f"{base}/review/reports")
        agreement = sam.inner_text("#agreement")
        assert "Alice" in agreement
        assert "0%" in agreement
        for page in pages.values():
            page.context.close()
    application.close()
