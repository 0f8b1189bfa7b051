"""Render a page in Debian's headless Chromium (selenium + chromedriver) and read what a reader
would see: console errors, images that failed to load, element ids, whether the first screen
holds a figure, and screenshots (the first screen, one gallery section, the whole page)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREEN_WIDTH = 1400
SCREEN_HEIGHT = 1000
MAX_HEIGHT = 20000
#: screenshots meant to be kept beside the code are made smaller than this (256 colours)
SMALL_PNG = 400_000
# every collapsed section opened and every lazy image loaded, as a reader scrolling would
_OPEN_ALL = """
document.querySelectorAll("details").forEach(function (d) { d.open = true; });
document.querySelectorAll("img").forEach(function (i) { i.loading = "eager"; });
"""
_PENDING = "return Array.from(document.images).filter(i => !i.complete).length;"
_FIRST_FIGURE = """
var figure = document.querySelector("figure");
if (!figure) { return false; }
var box = figure.getBoundingClientRect();
return box.top >= 0 && box.top < window.innerHeight && box.height > 100;
"""


@dataclass
class Rendered:
    console_errors: list[str]
    broken_images: list[str]
    ids: set[str]
    sorted_column: list[str]  # the per-target table's first column after a header click
    first_screen_figure: bool = False  # a figure starts within the first SCREEN_HEIGHT px
    gallery_images: int = 0  # thumbnails in the gallery that loaded


def small_png(path: Path, limit: int = SMALL_PNG) -> None:
    """Quantize a screenshot to 256 colours when it is larger than `limit` bytes."""
    if path.stat().st_size <= limit:
        return
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def render(
    page: Path,
    screenshot: Path,
    first_screen: Path | None = None,
    gallery_shot: Path | None = None,
    gallery_id: str | None = None,
) -> Rendered:
    """Open `page` (a file): screenshot the first screen as a reader sees it, open every section
    and load every image, screenshot one gallery section (`gallery_id`, else the first), sort
    the per-target table by its first column, then screenshot the whole page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_window_size(SCREEN_WIDTH, SCREEN_HEIGHT)
        driver.get(page.resolve().as_uri())
        # the viewport, not the window: the first screen a reader sees is SCREEN_HEIGHT px
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
        driver.set_window_size(2 * SCREEN_WIDTH - inner[0], 2 * SCREEN_HEIGHT - inner[1])
        first_figure = bool(driver.execute_script(_FIRST_FIGURE))
        if first_screen is not None:
            first_screen.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(first_screen))
            small_png(first_screen)
        driver.execute_script(_OPEN_ALL)
        deadline = time.monotonic() + 30
        while driver.execute_script(_PENDING) and time.monotonic() < deadline:
            time.sleep(0.2)
        broken = driver.execute_script(
            "return Array.from(document.images)"
            ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src);"
        )
        gallery = driver.execute_script(
            "return Array.from(document.querySelectorAll('figure.case img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length;"
        )
        ids = set(driver.execute_script("return Array.from(document.querySelectorAll('[id]'))"
                                        ".map(e => e.id);"))  # fmt: skip
        if gallery_shot is not None:
            chosen = f"#{gallery_id}" if gallery_id else "details.gallery-target"
            sections = driver.find_elements(By.CSS_SELECTOR, chosen)
            if sections:
                height = driver.execute_script("return arguments[0].offsetHeight;", sections[0])
                driver.set_window_size(SCREEN_WIDTH, min(int(height) + 200, MAX_HEIGHT))
                gallery_shot.parent.mkdir(parents=True, exist_ok=True)
                sections[0].screenshot(str(gallery_shot))
                small_png(gallery_shot)
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
    return Rendered(errors, list(broken), ids, column, first_figure, int(gallery))
