"""Opens a registration link in headless Chromium and registers the way a person does: types a
username, a password and its confirmation into the page's form and presses the button.

Reads one JSON object on stdin: {"url", "username", "password", "screenshot" (optional path)}.
Prints one JSON object: what the page showed ({"token_field", "welcome", "error", "requests"}).

The browser reaches 127.0.0.1 only: every host name resolves to nothing
(--host-resolver-rules), no proxy is used, and background services are off, so the CDN fonts
and links the pages reference are never fetched. Debian's chromium and chromium-driver are used
as installed; Selenium Manager is never asked to download anything.
"""

import json
import os
import sys
import tempfile
from urllib.parse import urlparse

os.environ["SE_OFFLINE"] = "true"
os.environ["SE_AVOID_STATS"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def visible(driver, element_id):
    classes = driver.find_element(By.ID, element_id).get_attribute("class") or ""
    return "hidden" not in classes.split()


def main():
    req = json.load(sys.stdin)
    if urlparse(req["url"]).hostname != "127.0.0.1":
        raise SystemExit("register.py: only 127.0.0.1 links are opened, not %s" % req["url"])
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--dns-prefetch-disable",
        "--user-data-dir=" + profile,
        "--window-size=1200,1000",
    ]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path="/usr/bin/chromedriver"))
    try:
        driver.set_page_load_timeout(30)
        driver.get(req["url"])
        wait = WebDriverWait(driver, 30)
        wait.until(EC.element_to_be_clickable((By.ID, "username")))
        token_field = driver.find_element(By.ID, "token").get_attribute("value")
        driver.find_element(By.ID, "username").send_keys(req["username"])
        driver.find_element(By.ID, "password").send_keys(req["password"])
        driver.find_element(By.ID, "confirm_password").send_keys(req["password"])
        driver.find_element(By.CSS_SELECTOR, "#registration input[type=submit]").click()
        wait.until(lambda d: visible(d, "success") or visible(d, "error"))
        result = {
            "token_field": token_field,
            "welcome": driver.find_element(By.ID, "welcome").text if visible(driver, "success") else None,
            "error": driver.find_element(By.ID, "error").text if visible(driver, "error") else None,
        }
        if req.get("screenshot"):
            driver.save_screenshot(req["screenshot"])
        # Every host the page made the browser ask for (from the DevTools network log).
        hosts = set()
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                hosts.add(urlparse(message["params"]["request"]["url"]).netloc)
        result["requests"] = sorted(hosts)
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
