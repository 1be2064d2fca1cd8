"""The web console (`strom console`) in headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) against a real `strom server` with real data: create a topic in the browser,
produce records with confluent-kafka, read them in the message browser (a `<script>` value shows as
text and never runs), watch a consumer group's lag move as a real consumer commits, and reset its
offsets (dry run, then execute). Screenshots of every page go to target/console-screenshots/ (the
docs' copies are docs/console/*.png).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import confluent_kafka as ck
import pytest

from broker_process import free_port
from clients import CLIENT_TIMEOUT_S, consumer, produce_all, producer, assert_delivered, wait_for

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # scripts/install-deps installs it from tests/compat/requirements.txt
    webdriver = None

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "target" / "console-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCRIPT_VALUE = "<script>window.__owned = 1</script>"
TOPIC = "console-demo"
GROUP = "console-demo-readers"


@pytest.fixture
def console(strom_bin, broker, tmp_path):
    """`strom console` against the broker, on a free port; its base URL."""
    port = free_port()
    log = open(tmp_path / "console.log", "wb")
    proc = subprocess.Popen(
        [str(strom_bin), "console", "--bootstrap-server", broker.bootstrap, "--listen", f"127.0.0.1:{port}",
         "--sample-interval-ms", "500", "--max-records", "100"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(up, 30, 0.1, "the console to answer")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def browser():
    if webdriver is None:
        pytest.fail("selenium is missing: run scripts/install-deps", pytrace=False)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: run scripts/install-deps (Debian's chromium and chromium-driver)",
                        pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> None:
    # The whole page, not just the window: size the window to the document first.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1360, max(700, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1360, 1000)


def click(driver, by, selector: str) -> None:
    """Click something that loads a new page, and wait (bounded) until the new page is there."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, selector).click()
    WebDriverWait(driver, 30).until(EC.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def table(driver, table_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]


def chart_points(driver, chart_id: str) -> int:
    return int(driver.find_element(By.ID, chart_id).get_attribute("data-points") or 0)


def commit_consumed(bootstrap: str, count: int) -> dict[int, int]:
    """A real consumer of GROUP reads `count` more records of TOPIC, commits the offsets after
    them, and leaves."""
    c = consumer(bootstrap, **{"group.id": GROUP, "auto.offset.reset": "earliest",
                               "enable.partition.eof": False, "session.timeout.ms": 6000})
    try:
        c.subscribe([TOPIC])
        got = 0
        next_offsets: dict[int, int] = {}
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while got < count:
            assert time.monotonic() < deadline, f"consumed {got} of {count} in {CLIENT_TIMEOUT_S}s"
            for m in c.consume(num_messages=count - got, timeout=1.0):
                assert m.error() is None, m.error()
                next_offsets[m.partition()] = m.offset() + 1
                got += 1
        c.commit(offsets=[ck.TopicPartition(TOPIC, p, o) for p, o in next_offsets.items()],
                 asynchronous=False)
        return next_offsets
    finally:
        c.close()


def test_console_pages_in_a_real_browser(console, broker, browser):
    d = browser
    # Overview.
    d.get(console + "/")
    assert d.title.startswith("Overview")
    assert text(d, "controller") == "1"
    # Topics: create one in the browser.
    click(d, By.LINK_TEXT, "Topics")
    d.find_element(By.ID, "new-topic-name").send_keys(TOPIC)
    d.find_element(By.ID, "new-topic-partitions").send_keys("3")
    d.find_element(By.ID, "new-topic-configs").send_keys("retention.ms=604800000")
    click(d, By.ID, "create-topic-submit")
    assert "Created topic" in d.find_element(By.CSS_SELECTOR, ".notice").text
    assert [r[0] for r in table(d, "partitions-table")] == ["0", "1", "2"]
    assert table(d, "configs-table")[0][:2] == ["retention.ms", "604800000"]

    # Records from a real client: 30 over 3 partitions, one a <script>, some JSON, with headers.
    p = producer(broker.bootstrap)
    records = [{"value": SCRIPT_VALUE.encode(), "key": b"evil", "partition": 0,
                "headers": [("source", b"<b>compat</b>")]}]
    records += [{"value": json.dumps({"order": i, "total": i * 10}).encode(), "key": f"order-{i}".encode(),
                 "partition": i % 3} for i in range(1, 30)]
    assert_delivered(produce_all(p, TOPIC, records))

    d.get(console + f"/topics/{TOPIC}")
    totals = text(d, "topic-totals")
    assert "30 records" in totals, totals
    shot(d, "topic")

    # The message browser: the <script> value is text, and it did not run.
    click(d, By.ID, "browse-link")
    rows = table(d, "records-table")
    assert len(rows) == 10, rows  # partition 0: the script and orders 3, 6, ..., 27
    assert rows[0][0] == "0" and rows[0][2] == "evil"
    assert rows[0][3] == SCRIPT_VALUE
    assert rows[0][4].replace("\n", " ") == "source: <b>compat</b>"
    assert d.execute_script("return window.__owned === undefined") is True
    # As JSON.
    Select(d.find_element(By.ID, "browse-format")).select_by_value("json")
    d.find_element(By.ID, "browse-partition").clear()
    d.find_element(By.ID, "browse-partition").send_keys("1")
    click(d, By.ID, "browse-submit")
    rows = table(d, "records-table")
    assert len(rows) == 10
    assert json.loads(rows[0][3]) == {"order": 1, "total": 10}
    shot(d, "messages")
    # Produce a test record from the browser.
    d.find_element(By.ID, "produce-partition").send_keys("2")
    d.find_element(By.ID, "produce-key").send_keys("from-browser")
    d.find_element(By.ID, "produce-value").send_keys("hello from the console")
    click(d, By.ID, "produce-submit")
    assert text(d, "produced-offset") == "10"
    assert table(d, "records-table")[0][3] == "hello from the console"

    # A consumer group: a real consumer commits 12 of the 31 records. Lag counts the partitions
    # the group has committed offsets for (as kafka-consumer-groups.sh for a group without members).
    ends = {0: 10, 1: 10, 2: 11}
    committed = commit_consumed(broker.bootstrap, 12)

    def lag() -> str:
        return str(sum(ends[p] - o for p, o in committed.items()))

    d.get(console + "/groups")
    assert [r[0] for r in table(d, "groups-table")] == [GROUP]
    click(d, By.LINK_TEXT, GROUP)
    assert text(d, "group-lag") == lag()
    assert text(d, "group-state") == "Empty"
    # The chart fills in from the console's samples.
    wait_for(lambda: (d.refresh(), chart_points(d, "lag-chart") >= 3)[1], 30, 0.5, "lag chart samples")
    # 12 records can never be whole partitions of 10, 10 and 11 records: some lag is left.
    assert int(lag()) > 0
    # It consumes the other 19: the lag moves to 0 on the page and on the chart.
    committed.update(commit_consumed(broker.bootstrap, 19))
    assert lag() == "0" and sorted(committed) == [0, 1, 2]
    wait_for(lambda: (d.refresh(), text(d, "group-lag") == lag())[1], 30, 0.5, f"lag {lag()}")
    time.sleep(1.5)  # let the chart's next samples show the step down (three sample intervals)
    d.refresh()
    wait_for(lambda: chart_points(d, "lag-chart") >= 3, 10, 0.2, "chart drawn")
    shot(d, "group")

    # Reset offsets: a dry run first (nothing moves), then execute.
    Select(d.find_element(By.ID, "reset-spec")).select_by_value("to-earliest")
    click(d, By.ID, "reset-dry-run")
    assert "Dry run" in d.find_element(By.CSS_SELECTOR, ".notice").text
    assert all(r[4] == "dry run" and r[3] == "0" for r in table(d, "reset-table"))
    assert text(d, "group-lag") == lag()
    shot(d, "reset-dry-run")
    Select(d.find_element(By.ID, "reset-spec")).select_by_value("to-earliest")
    click(d, By.ID, "reset-execute")
    assert all(r[4] == "committed" for r in table(d, "reset-table"))
    assert text(d, "group-lag") == "31"

    # Brokers and quorum.
    click(d, By.LINK_TEXT, "Brokers & quorum")
    assert table(d, "cluster-brokers")[0][3] == "alive"
    assert text(d, "quorum-leader") == "1"
    shot(d, "cluster")

    # Topics list with a search, and the overview with its throughput chart.
    d.get(console + "/topics?q=demo")
    assert [r[0] for r in table(d, "topics-table")] == [TOPIC]
    shot(d, "topics")
    d.get(console + "/")
    assert text(d, "topics").endswith("1")
    wait_for(lambda: chart_points(d, "throughput-chart") >= 2, 20, 0.2, "throughput chart")
    shot(d, "overview")
    for name in ("overview", "topics", "topic", "messages", "group", "reset-dry-run", "cluster"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, name


def test_console_reports_kafka_errors_by_name(console, broker, browser):
    d = browser
    d.get(console + "/topics/no-such-topic")
    err = d.find_element(By.CSS_SELECTOR, ".error")
    assert "UNKNOWN_TOPIC_OR_PARTITION" in err.text
    assert "check the name" in err.text
    d.get(console + "/topics")
    d.find_element(By.ID, "new-topic-name").send_keys("bad/name")
    click(d, By.ID, "create-topic-submit")
    assert "INVALID_TOPIC_EXCEPTION" in d.find_element(By.CSS_SELECTOR, ".error").text
    shot(d, "error")
