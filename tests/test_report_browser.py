"""The report page in a real headless browser (Chromium): every figure loads, every link resolves,
and the page logs no console error. Skips, saying why, where no browser or driver is installed."""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest

from tests.test_report import report, store  # noqa: F401  (the module-scoped report built from a hand-made store)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (it is in the dev extra)")
    binary, driver_path = _chromium(), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(
            "no headless browser: Chromium and chromedriver are not installed "
            "(Debian: apt-get install chromium chromium-driver); the report page is not checked in a browser"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_report_page_in_chromium(report, browser):  # noqa: F811
    out, result = report
    browser.get((out / "index.html").resolve().as_uri())
    browser.execute_async_script(  # wait until every image has loaded or failed
        "const done = arguments[arguments.length - 1];"
        "Promise.all(Array.from(document.images).map(i => i.complete ? null :"
        " new Promise(r => { i.onload = r; i.onerror = r; }))).then(() => done());"
    )
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]);"
    )
    assert len(images) >= len(result.figures) > 0
    broken = [src for src, w, h in images if not (w > 0 and h > 0)]
    assert not broken, f"figures that do not load: {broken}"

    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => [a.getAttribute('href'), a.href]);"
    )
    assert links
    ids = set(browser.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id);"))
    dead = []
    for raw, absolute in links:
        parsed = urllib.parse.urlparse(absolute)
        if raw.startswith("#"):
            if raw[1:] not in ids:
                dead.append(raw)
        elif parsed.scheme == "file":
            if not Path(urllib.parse.unquote(parsed.path)).is_file():
                dead.append(raw)
        elif parsed.scheme not in ("http", "https", "mailto"):
            dead.append(raw)
    assert not dead, f"links that resolve to nothing: {dead}"

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
