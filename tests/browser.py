"""Render a page in Debian's headless Chromium (selenium + chromedriver) and read what a reader
would see: console errors, images that failed to load, element ids, and a full-page screenshot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREEN_WIDTH = 1400
MAX_HEIGHT = 20000


@dataclass
class Rendered:
    console_errors: list[str]
    broken_images: list[str]
    ids: set[str]
    sorted_column: list[str]  # the per-target table's first column after a header click


def render(page: Path, screenshot: Path) -> Rendered:
    """Open `page` (a file), sort the per-target table by its first column, screenshot it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_window_size(SCREEN_WIDTH, 1000)
        driver.get(page.resolve().as_uri())
        broken = driver.execute_script(
            "return Array.from(document.images)"
            ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src);"
        )
        ids = set(driver.execute_script("return Array.from(document.querySelectorAll('[id]'))"
                                        ".map(e => e.id);"))  # fmt: skip
        column: list[str] = []
        if "per-target-table" in ids:
            table = driver.find_element(By.ID, "per-target-table")
            table.find_elements(By.TAG_NAME, "th")[0].click()
            table.find_elements(By.TAG_NAME, "th")[0].click()  # descending
            column = [
                row.find_elements(By.TAG_NAME, "td")[0].text
                for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
            ]
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(SCREEN_WIDTH, min(int(height), MAX_HEIGHT))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        errors = [
            entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
        ]
    finally:
        driver.quit()
    return Rendered(errors, list(broken), ids, column)
