"""Screenshots of the dashboard, taken from the real app with headless Chromium (Selenium).

Fill a database with a real run first, then shoot its pages::

    export FOCUSDIG_HOME=$(mktemp -d)
    focusdig run
    FOCUSDIG_API_TOKEN=demo:screenshot python docs/screenshots.py --out docs/screenshots

Needs Debian's ``chromium`` and ``chromium-driver`` and ``pip install selenium``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
    "--window-size=1280,800",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "focusdig", "dashboard", "--port", str(port)], env=os.environ
    )
    profile = tempfile.TemporaryDirectory(prefix="focusdig-chromium-")
    driver = None
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        items = httpx.get(f"{base}/api/items", params={"limit": 200}).json()["items"]
        translated = next(i for i in items if i["translated_text"] and i["top_tokens"])
        english = next(
            i for i in items if i["language"] == "en" and i["kind"] == "news" and i["entities"]
        )
        busiest = httpx.get(f"{base}/api/entities", params={"limit": 1}).json()["entities"][0]
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile.name}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        wait = WebDriverWait(driver, 20)
        pages = {
            "overview": "/",
            "item-translated": f"/items/{translated['id']}",
            "item": f"/items/{english['id']}",
            "entity": f"/entities/{quote(busiest['name'])}",
            "models": "/models",
        }
        for name, path in pages.items():
            driver.get(base + path)
            driver.save_screenshot(str(args.out / f"{name}.png"))
        driver.get(base + "/label")
        token = wait.until(ready.visibility_of_element_located((By.ID, "token")))
        token.send_keys(os.environ["FOCUSDIG_API_TOKEN"])
        driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait.until(ready.visibility_of_element_located((By.ID, "labeler")))
        driver.save_screenshot(str(args.out / "label.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(10)
        profile.cleanup()


if __name__ == "__main__":
    main()
