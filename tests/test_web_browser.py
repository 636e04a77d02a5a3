"""The web UI in a real browser: Debian's headless Chromium (/usr/bin/chromium, never a downloaded browser)
driven by Playwright, on a real 2-node cloud. Each test saves a PNG screenshot in its temp folder."""
from __future__ import annotations

import os
import shutil

import pytest

from webkit import http, signal_csv, web_cloud

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def ui_cloud(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    with web_cloud(tmp) as (a, b):
        yield {"nodes": (a, b), "base": f"http://{a.address}/", "other": f"http://{b.address}", "tmp": tmp}


@pytest.fixture
def page(browser, tmp_path):
    pg = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(30_000)
    yield pg
    pg.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    pg.close()
    assert not errors, errors


def _imported(ui_cloud) -> str:
    """The signal CSV imported once (through the UI by test_import..., else through the API)."""
    csv = ui_cloud["tmp"] / "signal.csv"
    if not csv.exists():
        signal_csv(csv)
    status, _, _ = http(ui_cloud["other"], "/3/Frames/signal.hex")
    if status == 404:
        from webkit import wait_job
        _, started, _ = http(ui_cloud["other"], "/3/ImportFiles", "POST", {"path": str(csv)})
        wait_job(ui_cloud["other"], started["job"]["job_id"])
    return "signal.hex"


def test_cloud_page_lists_both_nodes(ui_cloud, page, tmp_path):
    page.goto(ui_cloud["base"] + "#/cloud")
    page.wait_for_selector("#members tbody tr >> nth=1")
    rows = page.locator("#members tbody tr")
    assert sorted(rows.nth(i).get_attribute("data-node") for i in range(rows.count())) == \
        sorted(n.address for n in ui_cloud["nodes"])
    assert page.locator("#members .state.healthy").count() == 2
    page.screenshot(path=str(tmp_path / "cloud.png"))


def test_import_from_the_form_shows_the_frame_with_histograms(ui_cloud, page, tmp_path):
    csv = ui_cloud["tmp"] / "signal.csv"
    df = signal_csv(csv)
    page.goto(ui_cloud["base"] + "#/frames")
    page.fill("#import-path", str(csv))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#columns svg.hist")
    assert page.url.endswith("#/frames/signal.hex")
    assert page.locator("#columns tbody tr").count() == 4
    for col in ("signal", "noise1", "noise2"):
        bars = page.locator(f'#columns tr[data-column="{col}"] svg.hist rect')
        assert bars.count() == 20
    assert page.locator('#columns tr[data-column="y"] svg').count() == 0          # enum: no histogram
    assert page.locator("#preview tbody tr").count() == 10
    assert page.locator("#preview thead th").all_inner_texts() == list(df.columns)
    assert page.locator("#preview tbody tr").first.locator("td").last.inner_text() == df.y[0]
    page.screenshot(path=str(tmp_path / "frame.png"), full_page=True)
    # column types from the form (col_types): a numeric column imported as enum has no histogram
    page.goto(ui_cloud["base"] + "#/frames")
    page.fill("#import-path", str(csv))
    page.fill("#import-dest", "typed.hex")
    page.fill("#import-types", "noise2=enum")
    page.click("#import-form button[type=submit]")
    page.wait_for_function("location.hash.endsWith('/typed.hex')")
    page.wait_for_selector("#columns svg.hist")
    assert page.locator('#columns tr[data-column="noise2"] svg').count() == 0
    assert page.locator('#columns tr[data-column="noise1"] svg.hist rect').count() == 20


def test_training_from_the_form_reaches_100_percent_and_shows_the_model(ui_cloud, page, tmp_path):
    frame_key = _imported(ui_cloud)
    page.goto(ui_cloud["base"] + f"#/train?frame={frame_key}")
    page.wait_for_selector("#response option", state="attached")
    page.select_option("#response", "y")
    assert page.locator('fieldset[data-group="basic"] #param-hidden').count() == 1
    assert page.locator('fieldset[data-group="expert"] #param-rho').count() == 1
    page.fill("#param-hidden", "8")
    page.fill("#param-epochs", "6")
    page.check("#param-score_each_iteration")
    page.screenshot(path=str(tmp_path / "train-form.png"), full_page=True)
    page.click("#train-submit")
    page.wait_for_url("**/#/jobs/*")
    page.wait_for_selector("#dest-link", timeout=120_000)
    assert page.locator("#progress-text").inner_text().strip() == "100 %"
    assert page.locator(".progress.big").get_attribute("aria-valuenow") == "100"
    page.screenshot(path=str(tmp_path / "job.png"))
    page.click("#dest-link")
    page.wait_for_selector("#history svg circle")
    model_id = page.url.rsplit("/", 1)[1]
    _, model, _ = http(ui_cloud["other"], f"/3/Models/{model_id}")
    hist = model["scoring_history"]
    epochs = [row[hist["columns"].index("epochs")] for row in hist["rows"]]
    assert epochs[0] == 0                     # H2O's untrained row: no metrics, so no point
    events = len(epochs) - 1
    assert events >= 2
    assert page.locator("#history .series.training circle").count() == events
    assert page.locator("#history .series").count() == 1                # no validation frame: training only
    page.select_option("#history-metric", "classification_error")
    assert page.locator("#history .series.training circle").count() == events
    assert page.locator("#varimp .bar-row").first.get_attribute("data-label") == "signal"
    assert page.locator("#confusion-matrix tbody tr").count() == 3       # no, yes, Total
    assert page.locator("#parameters tr.changed td").first.inner_text()
    page.screenshot(path=str(tmp_path / "model.png"))                  # the top: charts and confusion matrix
    page.click("#pojo-preview")                                         # PREVIEW POJO, as Flow's button
    page.wait_for_function("document.querySelector('#pojo').textContent.includes('score0')")
    assert f"class {model_id}" in page.locator("#pojo").inner_text()


def test_long_job_cancelled_from_its_button(ui_cloud, page, tmp_path):
    frame_key = _imported(ui_cloud)
    _, r, _ = http(ui_cloud["other"], "/3/ModelBuilders/deeplearning", "POST",
                   {"training_frame": frame_key, "response_column": "y", "hidden": [64, 64], "epochs": 1e6})
    page.goto(ui_cloud["base"] + "#/jobs")
    row = page.locator(f'tr[data-job="{r["job"]["job_id"]}"]')
    row.locator('[data-testid="cancel"]').click()
    row.locator(".state.CANCELLED").wait_for()
    page.goto(ui_cloud["base"] + f"#/jobs/{r['job']['job_id']}")
    page.wait_for_selector(".state.CANCELLED")
    assert "cancelled" in page.locator("#job-error").inner_text()
    page.screenshot(path=str(tmp_path / "cancelled.png"))


def test_model_download_carries_the_token_on_a_secured_cloud(browser, tmp_path):
    """A plain link sends no Authorization header, so with a token the browser saved the 401 JSON as the model
    file; the page now fetches the file with the token."""
    from cloudkit import admin
    from webkit import wait_job
    assert admin("keygen", str(tmp_path / "sec")).returncode == 0
    token = admin("--security-dir", str(tmp_path / "sec"), "token").stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with web_cloud(tmp_path, 1, security_dir=tmp_path / "sec") as (node,):
        base = f"http://{node.address}"
        csv = tmp_path / "signal.csv"
        signal_csv(csv)
        _, started, _ = http(base, "/3/ImportFiles", "POST", {"path": str(csv)}, headers=auth)
        wait_job(base, started["job"]["job_id"], headers=auth)
        _, r, _ = http(base, "/3/ModelBuilders/deeplearning", "POST",
                       {"training_frame": started["destination_frame"], "response_column": "y", "hidden": [4],
                        "epochs": 1, "model_id": "secured_model"}, headers=auth)
        assert wait_job(base, r["job"]["job_id"], headers=auth)["status"] == "DONE"
        pg = browser.new_page(accept_downloads=True)
        try:
            pg.add_init_script(f"sessionStorage.setItem('aquifer-token', {token!r})")
            pg.goto(base + "/#/models/secured_model")
            link = pg.locator("a.button", has_text="Download model file")
            with pg.expect_download(timeout=30_000) as dl:
                link.click()
            saved = tmp_path / "downloaded.aqm"
            dl.value.save_as(saved)
            assert dl.value.suggested_filename == "secured_model"
            assert saved.read_bytes()[:8] == b"AQFMODEL"
        finally:
            pg.close()
