"""The dashboard in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against the real server started by ``focusdig dashboard``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
from conftest import HOSTILE_TITLE, RECENT_ENTITY
from sqlalchemy import select

from focusdig.database import session_scope
from focusdig.schema import Label

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
TOKEN = "tester:browser-secret"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]


@pytest.fixture
def server(scored_db, monkeypatch):
    """``focusdig dashboard`` on a free port of 127.0.0.1, writes allowed with TOKEN."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FOCUSDIG_API_TOKEN", TOKEN)
    command = [sys.executable, "-m", "focusdig", "dashboard", "--port", str(port)]
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        else:
            pytest.fail("the dashboard did not start")
        yield base
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def severe_console_messages(driver) -> list[str]:
    """Errors the page logged: script errors, CSP violations, failed loads."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_in_chromium(database_url, server, browser, scored_db):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)

    # overview: charts drawn, the hostile title shown as text, nothing executed
    browser.get(server + "/")
    charts = browser.find_elements(By.CSS_SELECTOR, ".charts:not(.entity-charts) svg.chart")
    assert len(charts) == 7 and all(c.size["width"] > 300 for c in charts)
    entity_charts = browser.find_elements(By.CSS_SELECTOR, ".entity-charts svg.chart")
    assert entity_charts and all(c.size["width"] > 300 for c in entity_charts)
    lines = browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.line")
    assert lines and all(line.size["width"] > 0 for line in lines)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.item-title")]
    assert titles[0] == HOSTILE_TITLE
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert severe_console_messages(browser) == []

    # an entity's page from the overview's entity panel: its chart, its items as text, the
    # words that drove each item's score toward it highlighted
    browser.find_element(By.CSS_SELECTOR, ".entity-charts").find_element(
        By.LINK_TEXT, RECENT_ENTITY
    ).click()
    wait.until(ready.title_contains(RECENT_ENTITY))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(RECENT_ENTITY)
    chart = browser.find_element(By.CSS_SELECTOR, ".entity-card svg.chart")
    assert chart.size["width"] > 300
    assert chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert chart.find_elements(By.CSS_SELECTOR, "polyline.line")
    rows = browser.find_elements(By.CSS_SELECTOR, "li.entity-item")
    expected = httpx.get(f"{server}/api/items", params={"entity": RECENT_ENTITY}).json()
    assert len(rows) == expected["total"] >= 2
    assert rows[0].find_element(By.CSS_SELECTOR, "a.item-title").text == HOSTILE_TITLE
    assert "<script>alert(2)</script>" in rows[0].find_element(By.CSS_SELECTOR, ".text").text
    heaviest = rows[0].find_elements(By.CSS_SELECTOR, "a.hl.hl-5")
    assert heaviest and heaviest[0].value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
    assert severe_console_messages(browser) == []

    # the hostile item's page (its entity linked), then a translated item: aligned words
    # light up together
    rows[0].find_element(By.CSS_SELECTOR, "a.item-title").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE
    assert "<script>alert(2)</script>" in browser.find_element(By.CSS_SELECTOR, ".text").text
    assert browser.find_element(By.CSS_SELECTOR, "table.entities").find_element(
        By.LINK_TEXT, RECENT_ENTITY
    )
    zh = httpx.get(f"{server}/api/items", params={"language": "zh", "limit": 1}).json()["items"]
    browser.get(f"{server}/items/{zh[0]['id']}")
    english = browser.find_element(By.ID, "en-1")
    ActionChains(browser).move_to_element(english).perform()
    wait.until(lambda d: "linked" in d.find_element(By.ID, "src-1").get_attribute("class"))
    assert severe_console_messages(browser) == []

    # label page: a wrong token is refused, the right one labels the item shown
    browser.get(server + "/label")
    token = wait.until(ready.visibility_of_element_located((By.ID, "token")))
    token.send_keys("tester:wrong")
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait.until(ready.visibility_of_element_located((By.ID, "labeler")))
    ActionChains(browser).send_keys("n").perform()
    wait.until(ready.text_to_be_present_in_element((By.ID, "status"), "token was refused"))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    link = wait.until(ready.visibility_of_element_located((By.ID, "item-link")))
    item_id = int(link.get_attribute("href").rsplit("/", 1)[1])
    ActionChains(browser).send_keys("n").perform()
    wait.until(ready.text_to_be_present_in_element((By.ID, "status"), f"saved item {item_id}"))
    with session_scope(scored_db) as session:
        rows = session.scalars(select(Label).where(Label.item_id == item_id)).all()
        assert [(r.label, r.annotator, r.origin) for r in rows] == [("negative", "tester", "api")]
    assert browser.execute_script("return sessionStorage.getItem('focusdig-api-token')") == TOKEN

    # the API docs work offline under their own CSP
    browser.get(server + "/docs")
    title = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .title")))
    assert "focusdig" in title.text
