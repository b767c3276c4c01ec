"""The web page of ``nlp-tasks serve`` in a real browser: headless Chromium (Debian's ``chromium``
and ``chromium-driver``, which ``.ci/run`` installs) driven by Selenium loads the page, submits a
sentence and finds the highlighted entities, the sentiment bars, a generated text, an audio
player whose WAV the browser decodes and the pronunciations of two words with their bars. The
screenshot goes to the test's folder, and also to ``$NLP_TASKS_SCREENSHOT`` when that is set
(the README's, of models trained on the benchmark data, is ``docs/screenshot.py``'s).

Without Chromium the test is skipped on a user's machine and fails in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SENTENCE = "Harry Potter visited Paris with Anna Berg . a wonderful , moving film"


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        message = f"headless browser test needs {CHROMIUM} and {DRIVER} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # no Selenium Manager download
    yield driver
    driver.quit()


def test_page_shows_every_model(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 120)
    browser.get(server.url + "/")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.card")) == 5)
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(SENTENCE)
    browser.find_element(By.CSS_SELECTOR, "#model-music input[name=seed]").send_keys("3")
    browser.find_element(By.CSS_SELECTOR, "#model-charlm input[name=seed]").send_keys("1")  # a fixed sample
    browser.find_element(By.CSS_SELECTOR, "#model-g2p input[name=words]").send_keys("kit shim")
    nbest = browser.find_element(By.CSS_SELECTOR, "#model-g2p input[name=nbest]")
    nbest.clear()
    nbest.send_keys("2")
    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "done")

    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".error")]
    assert errors == []
    marks = browser.find_elements(By.CSS_SELECTOR, "#model-ner mark.entity")
    found = {(m.get_attribute("data-type"), m.find_element(By.CSS_SELECTOR, ".words").text) for m in marks}
    assert {("PER", "Harry Potter"), ("LOC", "Paris")} <= found, found
    bars = browser.find_elements(By.CSS_SELECTOR, "#model-sentiment .bar")
    assert len(bars) == 5
    widths = [float(b.get_attribute("style").split("width:")[1].split("%")[0]) for b in bars]
    assert abs(sum(widths) - 100) < 1 and browser.find_elements(By.CSS_SELECTOR, "#model-sentiment .bar.best")
    generated = browser.find_element(By.CSS_SELECTOR, "#model-charlm pre.generated").text
    assert generated.strip() and "\n" not in generated.strip()  # a model of lines: one line, then <eos>
    audio = browser.find_element(By.CSS_SELECTOR, "#model-music audio")
    assert audio.get_attribute("src").startswith("blob:")
    duration = wait.until(lambda d: d.execute_script(
        "const a = document.querySelector('#model-music audio'); return a.readyState >= 1 ? a.duration : null;"))
    assert 32 * 0.6 - 0.1 <= duration <= 32 * 0.6 + 0.3  # 32 quarter steps at 100 bpm, decoded by the browser
    link = browser.find_element(By.CSS_SELECTOR, "#model-music a[download]")
    assert link.get_attribute("href").startswith("blob:") and link.get_attribute("download").endswith(".mid")
    assert browser.find_element(By.CSS_SELECTOR, "#model-music canvas.roll").size["height"] > 100
    assert browser.find_elements(By.CSS_SELECTOR, "#model-music input[name=stop_at_eos]") == []  # the LM's alone

    words = browser.find_elements(By.CSS_SELECTOR, "#model-g2p .pronounced")
    assert [w.get_attribute("data-word") for w in words] == ["kit", "shim"]
    for word in words:
        bars = word.find_elements(By.CSS_SELECTOR, ".bar")
        assert len(bars) == 2 and "best" in bars[0].get_attribute("class")
    assert words[1].find_element(By.CSS_SELECTOR, ".phonemes").text == "/SH IH1 M/"  # the made-up rule: 'sh' is one
    card_words = browser.find_element(By.CSS_SELECTOR, "#model-g2p input[name=words]")
    card_words.clear()
    card_words.send_keys("dot")
    browser.find_element(By.CSS_SELECTOR, "#model-g2p button").click()  # the card's own button: this card alone
    wait.until(lambda d: d.find_element(By.ID, "model-g2p").get_attribute("data-state") == "done")
    assert [w.get_attribute("data-word") for w in browser.find_elements(By.CSS_SELECTOR, "#model-g2p .pronounced")] \
        == ["dot"]

    # The language model's card (issue 35 item 9): a stop-at-end-of-line switch, on for a model of
    # separate lines only, and no score asked for text the model cannot score.
    stop = browser.find_element(By.CSS_SELECTOR, "#model-charlm input[name=stop_at_eos]")
    assert stop.get_attribute("type") == "checkbox" and stop.is_selected()  # on: this model reads separate lines
    box.clear()
    box.send_keys("snow \u2603")
    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "done")
    line = browser.find_element(By.CSS_SELECTOR, "#model-charlm .score-line").text
    assert 'not scored (characters the model never saw: "\u2603")' in line, line
    assert browser.find_elements(By.CSS_SELECTOR, "#model-charlm .error") == []

    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources and all(r.startswith((server.url, "blob:", "data:")) for r in resources), resources

    shot = tmp_path / "serve-page.png"
    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight + 40"))
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("NLP_TASKS_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["NLP_TASKS_SCREENSHOT"])


def test_api_documentation_renders_offline(browser, server):
    """/docs is Swagger UI from the package (fastapi-offline), not from a CDN: every operation shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/docs")
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 8)
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/models/ner/entities", "/v1/models/music/generate", "/health"} <= paths
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert all(r.startswith((server.url, "data:")) for r in resources), resources
